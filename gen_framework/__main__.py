"""``python -m gen_framework`` runs the ``genfw`` command."""

from gen_framework.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
