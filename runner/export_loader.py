"""Load a bundle written by `runner export` (this file is copied into the bundle as load.py).

    import sys; sys.path.insert(0, "BUNDLE"); import load
    bundle = load.load("BUNDLE")
    bundle.translate(["0 1 1"])          text runs: greedy decoding of input lines
    bundle.classify(pixels)              image classifiers: uint8 [B, H, W, C] -> probabilities [B, classes]
    bundle.model                         the torch module (eval mode), for anything else

Only torch, numpy and (for BPE vocabularies) `tokenizers` are needed to read the weights and
the vocabulary; the network itself is built by the installed runner's model code
(runner.registry + runner.models), never its data code (runner.problems, runner.training).
Image classifiers also come as a torch.export program (model.pt2):
`torch.export.load("BUNDLE/model.pt2").module()(pixels)` runs them with torch alone, no runner at all. The vocabulary code here is a small, deliberate copy of what training
used (ids 0 = <pad>, 1 = <EOS>, real tokens from 2), so that a bundle stands on its own.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import torch

PAD_ID, EOS_ID, FIRST_REAL_ID = 0, 1, 2
BUNDLE_FILE = "bundle.json"
PROGRAM_FILE = "model.pt2"


def _strip(ids) -> list[int]:
    out = []
    for i in ids:
        if i == EOS_ID:
            break
        if i != PAD_ID:
            out.append(int(i))
    return out


class Vocabulary:
    """Text <-> ids for the bundle's vocabulary kind: bpe (a tokenizers file), byte, symbols, transcript."""

    def __init__(self, spec: dict, folder: Path, side: str):
        self.kind = spec["kind"]
        if self.kind == "bpe":
            from tokenizers import Tokenizer

            name = "tokenizer.json" if spec.get("shared", True) else f"{side}.tokenizer.json"
            self.tokenizer = Tokenizer.from_file(str(folder / name))
        elif self.kind == "symbols":
            self.symbols = list(spec["symbols"])
            self.ids = {s: i + FIRST_REAL_ID for i, s in enumerate(self.symbols)}
        elif self.kind == "transcript":  # speech: id 2 is <unk>, tokens from 3
            self.tokens, self.unit = list(spec["tokens"]), spec["unit"]
        elif self.kind != "byte":
            raise ValueError(f"{folder}: unknown vocabulary kind {self.kind!r}")

    def encode(self, text: str) -> list[int]:
        if self.kind == "bpe":
            return self.tokenizer.encode(text, add_special_tokens=False).ids
        if self.kind == "byte":
            return [b + FIRST_REAL_ID for b in text.encode("utf-8")]
        if self.kind == "symbols":
            unknown = [t for t in text.split() if t not in self.ids]
            if unknown:
                raise ValueError(f"unknown symbol(s) {unknown[:5]}; the alphabet is {' '.join(self.symbols)}")
            return [self.ids[t] for t in text.split()]
        raise ValueError("a transcript vocabulary only decodes")

    def decode(self, ids) -> str:
        ids = _strip(ids)
        if self.kind == "bpe":
            return self.tokenizer.decode(ids, skip_special_tokens=True)
        if self.kind == "byte":
            return bytes(i - FIRST_REAL_ID for i in ids if i - FIRST_REAL_ID < 256).decode("utf-8", errors="replace")
        if self.kind == "symbols":
            size = len(self.symbols) + FIRST_REAL_ID
            return " ".join(self.symbols[i - FIRST_REAL_ID] if FIRST_REAL_ID <= i < size else "<?>" for i in ids)
        pieces = [self.tokens[i - FIRST_REAL_ID - 1] if i > FIRST_REAL_ID else "<unk>" for i in ids]
        return (" " if self.unit == "words" else "").join(pieces)


class Bundle:
    def __init__(self, folder: str | Path, device: str = "cpu"):
        self.folder = Path(folder)
        self.spec = json.loads((self.folder / BUNDLE_FILE).read_text())
        self.task = self.spec["task"]
        self.device = torch.device(device)
        self.class_names = list(self.spec.get("class_names") or [])
        vocab = self.spec.get("vocab")
        self.target_vocab = Vocabulary(vocab, self.folder / "vocab", "targets") if vocab else None
        self.input_vocab = (Vocabulary(vocab, self.folder / "vocab", "inputs")
                            if vocab and not vocab.get("shared", True) else self.target_vocab)
        self._model = None

    @property
    def model(self) -> torch.nn.Module:
        """The network from runner's model code and the bundle's weights (built on first use)."""
        if self._model is None:
            from runner import registry

            entry = registry.model(self.spec["model"])
            hparams = entry.config_class().model_validate(self.spec["hparams"])
            info = types.SimpleNamespace(**self.spec["info"])
            if "image_shape" in self.spec["info"]:
                info.image_shape = tuple(info.image_shape)
            model = entry.build_fn()(hparams, info)
            model.load_state_dict(torch.load(self.folder / "weights.pt", map_location="cpu", weights_only=True))
            self._model = model.to(self.device).eval()
        return self._model

    def program(self):
        """The exported program's module (inputs -> logits) where the export made one, else None."""
        path = self.folder / PROGRAM_FILE
        return torch.export.load(str(path)).module().to(self.device) if path.is_file() else None

    @torch.no_grad()
    def classify(self, pixels) -> torch.Tensor:
        """uint8 [B, H, W, C] in [0, levels) -> class probabilities [B, classes]."""
        inputs = torch.as_tensor(np.asarray(pixels, dtype=np.uint8)).to(self.device)
        program = self.program()
        logits = program(inputs) if program is not None else self.model({"inputs": inputs}).logits
        return torch.softmax(logits.float(), dim=-1)

    @torch.no_grad()
    def translate(self, lines: list[str], extra_length: int | None = None) -> list[str]:
        """Greedy decoding of each input line (the model's encode / decode contract)."""
        extra = self.spec["decode"]["extra_length"] if extra_length is None else extra_length
        out = []
        for line in lines:
            ids = self.input_vocab.encode(line) + [EOS_ID]
            memory = self.model.encode({"inputs": torch.tensor([ids], dtype=torch.long, device=self.device)})
            prefix = torch.zeros((1, 1), dtype=torch.long, device=self.device)
            for _ in range(len(ids) + extra):
                token = self.model.decode(memory, prefix)[:, -1].argmax(dim=-1)
                prefix = torch.cat([prefix, token[:, None]], dim=1)
                if int(token) == EOS_ID:
                    break
            out.append(self.target_vocab.decode(prefix[0, 1:].tolist()))
        return out


def load(folder: str | Path, device: str = "cpu") -> Bundle:
    return Bundle(folder, device)
