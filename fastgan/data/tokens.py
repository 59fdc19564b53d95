"""Token sequences for sequence families (SeqGAN): text files, vocabularies, id arrays.

* A text file holds one sequence per line.  ``Vocab.build(lines, level)`` makes a character-
  (``char``) or whitespace-level (``word``) vocabulary; ``Vocab.save``/``Vocab.load`` write and
  read it as a text file, one token per line in id order.  Ids 0 and 1 are ``<pad>`` and
  ``<eos>``: a sequence is its tokens, one ``<eos>`` and ``<pad>`` up to ``max_len``.
* A ``.npy`` or ``.csv`` array of integer ids ``[N, T]`` is taken as it is (no pad, no eos):
  the vocabulary is ``0 .. vocab_size - 1`` (``vocab_size = 0``: the largest id + 1).

Sequences longer than ``max_len`` are an error unless ``truncate`` (then they are cut,
keeping room for ``<eos>``); tokens outside a given vocabulary are an error naming the
line and the token.  :class:`TokenDataset` yields dict batches ``{"tokens": int64 [B, T]}``.
"""
from __future__ import annotations

import os

import numpy as np
import torch

__all__ = ["PAD", "EOS", "Vocab", "TokenDataset", "read_text", "read_ids", "load_tokens", "TEXT_SUFFIXES"]

PAD, EOS = 0, 1
SPECIALS = ("<pad>", "<eos>")
LEVELS = ("char", "word")
TEXT_SUFFIXES = (".txt", ".text")


class Vocab:
    """Tokens by id; ``level`` says how a line splits into tokens (``char`` | ``word`` | ``ids``)."""

    def __init__(self, tokens, level: str = "char"):
        if level not in LEVELS + ("ids",):
            raise ValueError(f"level must be one of {', '.join(LEVELS)} or ids, got {level!r}")
        self.tokens, self.level = list(tokens), level
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("vocabulary has repeated tokens")
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and (self.tokens, self.level) == (other.tokens, other.level)

    @property
    def has_specials(self) -> bool:
        return self.level != "ids"

    @classmethod
    def ids(cls, size: int) -> "Vocab":
        """The plain vocabulary ``0 .. size - 1`` of id arrays."""
        return cls([str(i) for i in range(int(size))], "ids")

    @classmethod
    def build(cls, lines, level: str = "char") -> "Vocab":
        """Specials, then every token of ``lines`` in order of first appearance."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        seen = dict.fromkeys(SPECIALS)
        for line in lines:
            seen.update(dict.fromkeys(split(line, level)))
        return cls(list(seen), level)

    def save(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"#level {self.level}\n")
            f.writelines(repr(t)[1:-1] + "\n" for t in self.tokens)   # escapes keep " " and "\t" visible
        return path

    @classmethod
    def load(cls, path: str) -> "Vocab":
        if not os.path.isfile(path):
            raise ValueError(f"vocab_file: {path} does not exist")
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if not lines or not lines[0].startswith("#level "):
            raise ValueError(f"vocab_file: {path} is not a vocabulary written by Vocab.save (no '#level' line)")
        level = lines[0].split(" ", 1)[1].strip()
        tokens = [_unescape(t) for t in lines[1:] if t != ""]
        if level != "ids" and tuple(tokens[:2]) != SPECIALS:
            raise ValueError(f"vocab_file: {path} must start with {SPECIALS}")
        return cls(tokens, level)

    def encode(self, line: str, where: str = "") -> list[int]:
        out = []
        for t in split(line, self.level):
            i = self.index.get(t)
            if i is None or (self.has_specials and i < len(SPECIALS)):
                raise ValueError(f"{where}token {t!r} is not in the vocabulary ({len(self)} tokens)")
            out.append(i)
        return out

    def decode(self, ids) -> str:
        """Tokens up to the first ``<eos>`` (pads dropped) joined by the level's separator."""
        ids = [int(i) for i in ids]
        if self.has_specials:
            ids = ids[:ids.index(EOS)] if EOS in ids else ids
            ids = [i for i in ids if i != PAD]
        sep = "" if self.level == "char" else " "
        return sep.join(self.tokens[i] if 0 <= i < len(self) else "<?>" for i in ids)


def _unescape(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def split(line: str, level: str) -> list[str]:
    return list(line) if level == "char" else line.split()


class TokenDataset:
    """``[N, T]`` int64 ids with their vocabulary; ``get_batch`` gives ``{"tokens": ...}``."""

    def __init__(self, ids: torch.Tensor, vocab: Vocab, *, name: str = "tokens", truncated: int = 0):
        if ids.ndim != 2 or ids.dtype != torch.int64:
            raise ValueError(f"ids must be int64 [N, T], got {ids.dtype} {tuple(ids.shape)}")
        if len(ids) == 0 or ids.shape[1] == 0:
            raise ValueError(f"{name}: no sequences")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= len(vocab):
            raise ValueError(f"{name}: token ids must be in [0, {len(vocab)}), got [{lo}, {hi}]")
        self.ids, self.vocab, self.name, self.truncated = ids, vocab, name, truncated
        self.shape, self.num_classes = (ids.shape[1],), 0

    def __len__(self) -> int:
        return len(self.ids)

    def get_batch(self, indices) -> dict:
        return {"tokens": self.ids[indices]}

    def describe(self) -> str:
        cut = f", {self.truncated} truncated" if self.truncated else ""
        return f"{self.name}: {len(self)} sequences of length {self.shape[0]}, vocabulary {len(self.vocab)}{cut}"


def read_text(path: str, *, level: str = "char", vocab: Vocab | None = None, max_len: int = 0,
              truncate: bool = False) -> TokenDataset:
    """One sequence per line of a text file (empty lines skipped); ``max_len`` counts ``<eos>``
    (0: the longest line + 1)."""
    with open(path, encoding="utf-8") as f:
        lines = [ln.rstrip("\r\n") for ln in f]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise ValueError(f"data: {path} holds no sequences (empty file)")
    vocab = vocab if vocab is not None else Vocab.build(lines, level)
    if not vocab.has_specials:
        raise ValueError(f"vocab_file: a text file needs a char or word vocabulary, got level {vocab.level!r}")
    seqs = [vocab.encode(ln, f"{path} line {i + 1}: ") for i, ln in enumerate(lines)]
    longest = max(len(s) for s in seqs) + 1
    T = max_len or longest
    cut = sum(len(s) + 1 > T for s in seqs)
    if cut and not truncate:
        first = next(i for i, s in enumerate(seqs) if len(s) + 1 > T)
        raise ValueError(f"data: {cut} sequences are longer than max_len={T} tokens with <eos> (first: line "
                         f"{first + 1}, {len(seqs[first]) + 1}); raise max_len or pass --truncate")
    ids = torch.full((len(seqs), T), PAD, dtype=torch.int64)
    for i, s in enumerate(seqs):
        s = s[:T - 1] + [EOS]
        ids[i, :len(s)] = torch.tensor(s)
    return TokenDataset(ids, vocab, name=os.path.basename(path), truncated=cut)


def read_ids(path: str, *, vocab_size: int = 0, max_len: int = 0, truncate: bool = False) -> TokenDataset:
    """A ``.npy`` or ``.csv`` array of integer ids ``[N, T]``."""
    lower = path.lower()
    if lower.endswith(".npy"):
        arr = np.load(path, allow_pickle=False)
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if not text.strip():
            raise ValueError(f"data: {path} holds no sequences (empty file)")
        try:
            arr = np.loadtxt(path, delimiter=",", ndmin=2)
        except ValueError as e:
            raise ValueError(f"data: {path} must hold integer token ids separated by commas ({e})") from None
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"data: {path} must hold a non-empty 2-D array of ids [N, T], got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
        raise ValueError(f"data: {path} must hold integer token ids")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or (vocab_size and arr.max() >= vocab_size):
        bad = arr[(arr < 0) | (arr >= (vocab_size or np.iinfo(np.int64).max))][0]
        raise ValueError(f"data: {path} holds token id {bad} outside the vocabulary [0, {vocab_size or 'inf'})")
    T, cut = arr.shape[1], 0
    if max_len and T > max_len:
        if not truncate:
            raise ValueError(f"data: sequences of {path} have {T} tokens, more than max_len={max_len}; "
                             "raise max_len or pass --truncate")
        arr, cut = arr[:, :max_len], len(arr)
    vocab = Vocab.ids(vocab_size or int(arr.max()) + 1)
    return TokenDataset(torch.from_numpy(np.ascontiguousarray(arr)), vocab, name=os.path.basename(path), truncated=cut)


def load_tokens(path: str, *, level: str = "char", vocab_file: str = "", vocab_size: int = 0, max_len: int = 0,
                truncate: bool = False) -> TokenDataset:
    """A text file (``.txt``) or an id array (``.npy``/``.csv``) as a :class:`TokenDataset`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"data: {path} is not a file (give a .txt of sequences or a .npy/.csv of token ids)")
    if os.path.getsize(path) == 0:
        raise ValueError(f"data: {path} holds no sequences (empty file)")
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    lower = path.lower()
    if lower.endswith((".npy", ".csv")):
        if vocab_file:
            vocab_size = len(Vocab.load(vocab_file))
        return read_ids(path, vocab_size=vocab_size, max_len=max_len, truncate=truncate)
    if lower.endswith(TEXT_SUFFIXES):
        vocab = Vocab.load(vocab_file) if vocab_file else None
        return read_text(path, level=level, vocab=vocab, max_len=max_len, truncate=truncate)
    raise ValueError(f"data: {path}: give a text file ({', '.join(TEXT_SUFFIXES)}, one sequence per line) "
                     "or token ids (.npy, .csv)")
