"""The subcommands of `manage.py groups`, one module per area.

Each module offers `add_subcommands(subparsers)`, which adds its actions and sets a
`handler(command, **options)` default on each; the management command only
dispatches, so every area keeps its own arguments and output beside its logic.
"""
