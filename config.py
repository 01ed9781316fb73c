"""
Configuration: each stage declares its options as a dataclass at the top of its file, one `opt(default, help)`
per field, and `parse_config` turns it into a command line with `--help` (no exec, no globals: a typo is an
error). Options are written with underscores, `--data_dir`; the dashed spelling `--data-dir` is accepted too.
A field may say which values make sense, `opt(32, "...", at_least=1)`: any other value is refused in one line
that names the option (`--batch_size 0: must be a positive integer`); `check_value` does the same for the scripts
that use argparse directly. `resumed_config` is what `--resume` runs with: the saved run's own options.
`run(main)` is every script's entry point: a missing file, a bad value or a file that cannot be written ends it
with a one-line message, not a traceback.
"""

import argparse
import dataclasses
import sys
import typing
from pathlib import Path


def opt(default, help, *, at_least=None, at_most=None, above=None, below=None, choices=None):
    """A dataclass field with a help string; `parse_config` turns it into `--name` with that help, and refuses a
    value below at_least, above at_most, not above `above`, not below `below`, or not one of `choices`."""
    bounds = dict(at_least=at_least, at_most=at_most, above=above, below=below, choices=choices)
    return dataclasses.field(default=default, metadata={"help": help, **{k: v for k, v in bounds.items()
                                                                           if v is not None}})


def check_value(name, value, *, at_least=None, at_most=None, above=None, below=None, choices=None):
    """Refuse a value of option --name outside its bounds: a ValueError whose one line names the option."""
    if value is None:
        return
    if choices is not None and value not in choices:
        raise ValueError(f"--{name} {value}: must be one of {', '.join(str(c) for c in choices)}")
    if at_least is not None and at_most is not None and not at_least <= value <= at_most:
        raise ValueError(f"--{name} {value}: must be between {at_least} and {at_most}")
    if at_least is not None and value < at_least:
        if isinstance(value, int) and at_least == 1:
            raise ValueError(f"--{name} {value}: must be a positive integer")
        raise ValueError(f"--{name} {value}: must be {at_least} or more")
    if at_most is not None and value > at_most:
        raise ValueError(f"--{name} {value}: must be {at_most} or less")
    if above is not None and not value > above:
        raise ValueError(f"--{name} {value}: must be more than {above}")
    if below is not None and not value < below:
        raise ValueError(f"--{name} {value}: must be less than {below}")


def check_args(args, **bounds):
    """argparse scripts: check_value for each named option, e.g. check_args(args, top_k=dict(at_least=0))."""
    for name, kw in bounds.items():
        check_value(name, getattr(args, name), **kw)


def _parser(cls, description=None, defaults=True):
    """The argparse parser of a dataclass of `opt(...)` fields; defaults=False leaves out every option that is not
    given (to see which ones the command line gave)."""
    parser = argparse.ArgumentParser(
        description=description or cls.__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # --max_it is a typo, not --max_iters
    )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        if typing.get_origin(typ) is typing.Union:  # Optional[X] -> X
            typ = next(a for a in typing.get_args(typ) if a is not type(None))
        names = ["--" + f.name] + (["--" + f.name.replace("_", "-")] if "_" in f.name else [])
        default = f.default if defaults else argparse.SUPPRESS
        help_text = f.metadata.get("help", "")
        if typ is bool:
            parser.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=default, help=help_text)
        else:
            parser.add_argument(*names, dest=f.name, type=typ, default=default, help=help_text)
    return parser


def parse_config(cls, argv=None, description=None):
    """Build an argparse parser from a dataclass of `opt(...)` fields and return an instance of it.

    Each field becomes `--field_name` (dashes also accepted); bools become `--x / --no-x`. Types come from the
    annotations (int, float, str, bool, or Optional of one of them). A value outside a field's bounds (opt's
    at_least, ..., choices) is a ValueError naming the option.
    """
    args = _parser(cls, description).parse_args(argv)
    for f in dataclasses.fields(cls):
        check_value(f.name, getattr(args, f.name), **{k: v for k, v in f.metadata.items() if k != "help"})
    return cls(**vars(args))


def given_options(cls, argv=None):
    """The names of the fields of cls that the command line argv (default sys.argv[1:]) gives explicitly."""
    args, _ = _parser(cls, defaults=False).parse_known_args(sys.argv[1:] if argv is None else argv)
    return set(vars(args))


def resumed_config(cls, cfg, saved, argv=None, may_change=()):
    """The configuration of a resumed run: the one saved with it (`saved`, a dict), except the fields in
    may_change, which come from cfg (this command line). An option that the command line gives with another value
    than the saved one is refused, naming it: the resumed run would otherwise ignore it without a word."""
    saved = {k: v for k, v in saved.items() if k in cls.__dataclass_fields__}
    differ = [k for k in sorted(given_options(cls, argv) - set(may_change))
              if k in saved and getattr(cfg, k) != saved[k]]
    if differ:
        given = ", ".join(f"--{k} {getattr(cfg, k)}" for k in differ)
        kept = ", ".join(f"--{k} {saved[k]}" for k in differ)
        raise ValueError(f"{given}: --resume continues the saved run with its own options ({kept}); drop "
                         f"{'it' if len(differ) == 1 else 'them'}, or start a new run")
    return cls(**{**saved, **{k: getattr(cfg, k) for k in may_change if k in cls.__dataclass_fields__}})


def describe_error(e):
    """One line for an expected failure: an OSError as 'path: reason', anything else as its message."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def run(main, *errors, name=None):
    """A script's entry point: main(). An expected failure ends the script with one line, `name: message`, and no
    traceback: a missing file, a bad option or value (FileNotFoundError, ValueError, or one of `errors`), a file or
    folder that cannot be written (any OSError: disk full, read-only, a file where a folder should be), or Ctrl-C
    outside a training loop (exit code 130; a training loop handles Ctrl-C itself and saves, see
    training.StopRequest; what was written before is kept)."""
    name = name or Path(sys.argv[0]).name
    try:
        return main()
    except (OSError, ValueError, *errors) as e:
        sys.exit(f"{name}: {describe_error(e)}")
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        sys.exit(130)
