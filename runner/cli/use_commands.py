"""`runner predict` and `runner export`: a trained run used on the user's own inputs, or packed to go."""

from __future__ import annotations

import json
import sys

from runner.cli.spec_commands import add_override_flag


def add_commands(sub) -> None:
    p = sub.add_parser(
        "predict", help="apply a trained run to your inputs: text lines, WAV files, images; or sample from it",
        description="Text problems read INPUT files (one example a line), else stdin, else --interactive; "
        "speech reads WAV files, image classification reads PNG/JPEG/.npy files; language models and image "
        "generation sample (INPUT files, if any, hold text prompts, one a line); an offline-RL policy plays "
        "--episodes episodes in its environment, conditioned on --target-return.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder `runner run` wrote")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="input files ('-' = stdin)")
    p.add_argument("--interactive", action="store_true", help="read one input at a time from the terminal")
    p.add_argument("--format", choices=["text", "jsonl"], default="text",
                   help="text: one output line per input (files: FILE<TAB>result; newlines as \\n); jsonl: one JSON object a line")
    p.add_argument("--output", default=None, metavar="FILE", help="write results here instead of stdout")
    p.add_argument("--output-dir", default="samples", metavar="DIR",
                   help="where generated images go (default: ./samples; existing files are never replaced)")
    p.add_argument("--top", type=int, default=5, metavar="N", help="image classification: labels shown per image")
    p.add_argument("--checkpoint", default=None, help="a checkpoint folder (default: the run's latest)")
    p.add_argument("--data-dir", default=None, help="data cache, only for runs older than data_assets/")
    g = p.add_argument_group("policies (offline RL): episodes in the environment, no INPUT")
    g.add_argument("--target-return", type=float, default=None,
                   help="return the Decision Transformer is asked for (default: the problem's evaluation target)")
    g.add_argument("--episodes", type=int, default=1, help="episodes to play (reset seeds --seed, --seed+1, ...)")
    g = p.add_argument_group("sampling (language models, image generation)")
    g.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (0 = greedy)")
    g.add_argument("--top-k", type=int, default=0, help="sample among the K most likely tokens (0 = all)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling: the smallest set with mass P")
    g.add_argument("--num-samples", type=int, default=1, help="samples per prompt (or in all, without prompts)")
    g.add_argument("--seed", type=int, default=None, help="same seed, same samples")
    g.add_argument("--max-length", type=int, default=0, help="most tokens per text sample (0 = problem default)")
    add_override_flag(p)
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("export", help="write a bundle that loads without runner's data code; log it to MLflow",
                       description="The bundle holds the weights, the vocabulary, bundle.json and load.py (and "
                       "a torch.export program for image classifiers); it is logged as the MLflow run's model when the run "
                       "was tracked.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--to", default=None, metavar="DIR",
                   help="a new (or empty) folder for the bundle (default: RUN_DIR/export)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint folder (default: the run's latest)")
    p.add_argument("--no-mlflow", action="store_true", help="do not log the bundle to the run's MLflow run")
    p.set_defaults(handler=cmd_export)


def cmd_export(args) -> int:
    from runner.export import export_run

    exported = export_run(args.run_dir, args.to, args.checkpoint)
    print(f"exported {exported.task} model -> {exported.folder}"
          + (" (with a torch.export program, model.pt2)" if exported.program else ""), file=sys.stderr)
    if not args.no_mlflow:
        from runner.tracking.model_logging import log_bundle

        model_uri = log_bundle(args.run_dir, exported.folder)
        print(f"logged to MLflow as {model_uri}" if model_uri else
              "not logged to MLflow: the run has no mlflow_run.json (it was not tracked)", file=sys.stderr)
    print(exported.folder)
    return 0


def cmd_predict(args) -> int:
    from runner import predict
    from runner.inference import load_run, run_experiment
    from runner.specs.errors import Location, SpecError

    _check_sampling(args)
    run_experiment(args.run_dir)  # a wrong folder is named before anything else
    for name in args.inputs:  # before the model loads: a typo should cost nothing
        if name != "-":
            _readable(name)
    run = load_run(args.run_dir, args.checkpoint, args.data_dir, args.overrides)
    task = predict.task_of(run)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if task == "policy":
            if args.inputs or args.interactive:
                raise SpecError("a policy plays episodes in its environment and reads no INPUT; "
                                "use --target-return, --episodes and --seed", Location(args.run_dir))
            for result in predict.play(run, args.target_return, args.episodes, args.seed):
                _emit(result, args.format, out, with_source=True)
            return 0
        if task in ("generate_text", "generate_image"):
            prompts = [line for name in args.inputs for line in _lines(name)]
            if task == "generate_image" and prompts:
                raise SpecError("an image-generation run samples unconditionally; drop the INPUT files",
                                Location(args.inputs[0]))
            for result in predict.generate(run, prompts, _sampling(args), args.output_dir):
                _emit(result, args.format, out, with_source=bool(prompts))
            return 0
        if args.interactive:
            for item in _interactive(task):
                try:
                    results = _predict(predict, run, task, [item], args)
                except SpecError as exc:  # one bad input does not end the session
                    print(f"error: {exc}", file=sys.stderr)
                    continue
                for result in results:
                    _emit(result, args.format, out, with_source=False)
            return 0
        if task in predict.TAKES_FILES:
            paths = [p for name in args.inputs for p in (_lines(name) if name == "-" else [name])]
            if not paths:
                paths = _stdin_lines(f"{predict.TAKES_FILES[task]} (as INPUT arguments, or their paths on stdin)")
            groups = [("<paths>", paths)]
        else:  # each file on its own, so that an error names the file and its line
            groups = [("<stdin>" if name == "-" else name, _lines(name)) for name in (args.inputs or ["-"])]
        for where, items in groups:
            for result in _predict(predict, run, task, items, args, where):
                _emit(result, args.format, out, with_source=task in predict.TAKES_FILES)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _predict(predict, run, task, items, args, where="<input>"):
    if task == "text":
        options = _sampling(args)
        if predict.sampling_requested(options):
            return predict.sample_translations(run, items, options, where)
        return predict.translate(run, items, where)
    if task == "masked":
        return predict.fill_masks(run, items, where)
    if task == "speech":
        return predict.transcribe(run, items)
    notes: list[str] = []
    results = predict.classify(run, items, args.top, notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return results


def _emit(result, fmt: str, out, with_source: bool) -> None:
    if fmt == "jsonl":
        out.write(json.dumps(result.as_dict(), ensure_ascii=False) + "\n")
    else:
        if result.file is not None:  # a generated image: where it went
            out.write(result.file + "\n")
            return
        shown = result.text if result.text is not None else ", ".join(f"{n} ({p:.3f})" for n, p in result.labels)
        shown = shown.replace("\\", "\\\\").replace("\n", "\\n")  # one result a line; jsonl keeps text as is
        out.write((f"{result.source}\t{shown}" if with_source else shown) + "\n")
    out.flush()


def _sampling(args):
    from runner.predict import SamplingOptions

    return SamplingOptions(args.temperature, args.top_k, args.top_p, args.num_samples, args.seed, args.max_length)


def _check_sampling(args) -> None:
    from runner.specs.errors import SpecError

    if not 0 <= args.temperature <= 1e6:  # also refuses nan and inf
        raise SpecError(f"--temperature must be a finite number >= 0 (0 = greedy), got {args.temperature}")
    if args.top_k < 0:
        raise SpecError(f"--top-k must be >= 0 (0 = no limit), got {args.top_k}")
    if not 0 < args.top_p <= 1:
        raise SpecError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.num_samples < 1 or args.num_samples > 10000:
        raise SpecError(f"--num-samples must be in [1, 10000], got {args.num_samples}")
    if args.max_length < 0:
        raise SpecError(f"--max-length must be >= 0 (0 = the problem's default), got {args.max_length}")
    if args.top < 1:
        raise SpecError(f"--top must be at least 1, got {args.top}")
    if not 1 <= args.episodes <= 10000:
        raise SpecError(f"--episodes must be in [1, 10000], got {args.episodes}")
    if args.target_return is not None and not abs(args.target_return) <= 1e12:  # also refuses nan and inf
        raise SpecError(f"--target-return must be a finite number, got {args.target_return}")


def _readable(name: str) -> None:
    from pathlib import Path

    from runner.specs.errors import Location, SpecError

    if not Path(name).exists():
        raise SpecError("no such input file", Location(name))
    if not Path(name).is_file():
        raise SpecError("not a file; pass input files (or '-' for stdin)", Location(name))


def _lines(name: str) -> list[str]:
    from runner.specs.errors import Location, SpecError

    if name == "-":
        return sys.stdin.read().splitlines()
    try:
        with open(name, encoding="utf-8") as f:
            return f.read().splitlines()
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (byte {exc.start}); text inputs are one example a line",
                        Location(name)) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", Location(name)) from None


def _stdin_lines(what: str) -> list[str]:
    from runner.specs.errors import SpecError

    if sys.stdin.isatty():
        raise SpecError(f"nothing to predict: give {what}, or --interactive")
    return [line for line in sys.stdin.read().splitlines() if line.strip()]


def _interactive(task: str):
    """Inputs typed one at a time; an empty line or end of input (Ctrl-D) stops."""
    prompt = "file> " if task in ("speech", "classify") else "> "
    while True:
        if sys.stdin.isatty():
            try:
                line = input(prompt)  # line editing on a terminal
            except EOFError:
                return
        else:  # piped: no prompts in the output
            line = sys.stdin.readline()
            if not line:
                return
            line = line.rstrip("\n")
        if not line.strip():
            return
        yield line.strip() if task in ("speech", "classify") else line
