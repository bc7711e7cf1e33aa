"""Everything the framework writes to disk and reads back: checkpoints, their integrity and atomic writes.

- :mod:`~gen_framework.persistence.atomic`: every file is written to a temporary name and renamed into place.
- :mod:`~gen_framework.persistence.checkpoint`: reading Lightning checkpoints safely, finding their model class.
- :mod:`~gen_framework.persistence.checkpoint_io`: Lightning's checkpoint IO with crash-safe local writes.
"""
