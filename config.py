"""
Configuration: each stage declares its options as a dataclass at the top of its file, one `opt(default, help)`
per field, and `parse_config` turns it into a command line with `--help` (no exec, no globals: a typo is an
error). Options are written with underscores, `--data_dir`; the dashed spelling `--data-dir` is accepted too.
`run(main)` is every script's entry point: a missing file or a bad value ends it with a message, not a traceback.
"""

import argparse
import dataclasses
import sys
import typing
from pathlib import Path


def opt(default, help):
    """A dataclass field with a help string; `parse_config` turns it into `--name` with that help."""
    return dataclasses.field(default=default, metadata={"help": help})


def parse_config(cls, argv=None, description=None):
    """Build an argparse parser from a dataclass of `opt(...)` fields and return an instance of it.

    Each field becomes `--field_name` (dashes also accepted); bools become `--x / --no-x`. Types come from the
    annotations (int, float, str, bool, or Optional of one of them).
    """
    parser = argparse.ArgumentParser(
        description=description or cls.__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        if typing.get_origin(typ) is typing.Union:  # Optional[X] -> X
            typ = next(a for a in typing.get_args(typ) if a is not type(None))
        names = ["--" + f.name] + (["--" + f.name.replace("_", "-")] if "_" in f.name else [])
        help_text = f.metadata.get("help", "")
        if typ is bool:
            parser.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=f.default, help=help_text)
        else:
            parser.add_argument(*names, dest=f.name, type=typ, default=f.default, help=help_text)
    args = parser.parse_args(argv)
    return cls(**vars(args))


def run(main, *errors):
    """A script's entry point: main(). An expected failure (a missing file, a bad option or value:
    FileNotFoundError, ValueError, or one of `errors`) ends the script with its message, without a traceback."""
    try:
        return main()
    except (FileNotFoundError, ValueError, *errors) as e:
        sys.exit(f"{Path(sys.argv[0]).name}: {e}")
