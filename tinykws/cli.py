"""The `tinykws` command: a thin layer over the API.

Each verb lives next to the API it drives: the module named in VERBS defines
`cli_configure(parser)` (add arguments) and `cli_run(args) -> int` (call the API, print).
This file only dispatches, and turns TinyKWSError into one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tinykws.errors import TinyKWSError

# verb -> (module, one-line help). Modules are imported lazily only when building the parser;
# they must keep TensorFlow imports inside functions so that `tinykws --help` is fast.
VERBS: dict[str, tuple[str, str]] = {
    # data
    "synth": ("tinykws.data.synth", "synthesize a multilingual keyword corpus (MSWC layout)"),
    # features
    "features": ("tinykws.features.files", "write int8 feature files in the EEMBC/MLPerf Tiny layout"),
    # training
    "train": ("tinykws.training.train", "train a DS-CNN keyword model"),
    "quantize": ("tinykws.training.quantize", "full-integer int8 quantization of a trained model"),
    "evaluate": ("tinykws.training.evaluate", "accuracy, per-class F1 and confusion matrix, float and int8"),
    "pretrain": ("tinykws.training.pretrain",
                 "train a multilingual keyword embedding (DS-CNN) for few-shot models"),
    "distill": ("tinykws.training.distill", "distil a real-speech teacher into the embedding DS-CNN"),
    "teacher-cache": ("tinykws.training.teacher_fill",
                      "fill distill's teacher-output cache from corpora, as Ray tasks over shards"),
    "fewshot": ("tinykws.training.fewshot",
                "an int8 keyword model from ~5 clips on the pretrained embedding"),
    "fewshot-eval": ("tinykws.training.fewshot_eval", "few-shot protocol: F1 and streaming FRR vs FA/h"),
    # export
    "export": ("tinykws.export.carrays", "write model_data.{h,c}, labels.h, features_config.h"),
    "compile": ("tinykws.export.compiler", "compile an int8 .tflite to C (no interpreter)"),
    # firmware
    "build": ("tinykws.firmware.build", "build firmware for a board"),
    # device and bench
    "flash": ("tinykws.device.flash",
              "build firmware for a board and program it (emulated boards: build only)"),
    "bench": ("tinykws.device.bench", "run a model on a board over serial and measure it"),
    "bench-table": ("tinykws.device.bench", "bench the demo and MLPerf Tiny reference models side by side"),
    "listen": ("tinykws.device.listen", "streaming keyword detection on a board (recording or live mic)"),
    # report
    "report": ("tinykws.report", "one page per board and model: accuracy, latency, memory, energy"),
    # the whole pipeline, and the machine
    "demo": ("tinykws.demo", "the main job end to end on the embedded defaults"),
    "doctor": ("tinykws.doctor", "what is installed (tools, voices, extras, ports) and how to add the rest"),
}  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 (argparse already uses 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tinykws {self.prog.split()[-1]}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from tinykws import __version__

    parser = _Parser(prog="tinykws", description="Keyword spotting for microcontrollers.")
    parser.add_argument("--version", action="version", version=f"tinykws {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (modname, helptext) in VERBS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:  # verb not built yet in this checkout
                continue
            raise
        p = sub.add_parser(verb, help=helptext, description=helptext)
        configure = getattr(mod, f"cli_configure_{verb.replace('-', '_')}", None) or mod.cli_configure
        configure(p)
        p.set_defaults(_module=mod, _verb=verb)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command. Run from the command line (argv None), stderr goes through the filter of
    TensorFlow's unconfigurable start-up and graph lines (tinykws.quiet); called with an
    argument list (tests, scripts), the caller's streams are left alone."""
    from tinykws import quiet

    quiet.configure()  # before any verb imports TensorFlow
    if argv is None:
        with quiet.filter_stderr():
            return _main(None)
    return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    mod = args._module
    run = getattr(mod, f"cli_run_{args._verb.replace('-', '_')}", None) or mod.cli_run
    try:
        return int(run(args) or 0)
    except TinyKWSError as exc:
        print(f"tinykws: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinykws: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
