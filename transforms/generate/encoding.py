"""Columnar encodings the generator builds rows from: string vocabularies and map sets.

Rows never hold Python strings. A string column is an int32 code per row into a small vocabulary
(written to Parquet as a dictionary array, so the writer does not hash every value); a map
column is an int32 id per row into a registry of distinct maps (tag sets, product attribute
sets), expanded with vectorized offsets only when a format needs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Vocab:
    """An append-only list of distinct strings; ``code(s)`` is the index of ``s``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._index: dict[str, int] = {}
        self.values: list[str] = []
        for v in values:
            self.code(v)

    def code(self, value: str) -> int:
        idx = self._index.get(value)
        if idx is None:
            idx = self._index[value] = len(self.values)
            self.values.append(value)
        return idx

    def codes(self, values: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.code(v) for v in values), dtype=np.int32)

    def array(self) -> pa.Array:
        return pa.array(self.values, type=pa.string())


def codes_by_key(keys: np.ndarray, label: Callable[[int], str], vocab: Vocab) -> np.ndarray:
    """Per-element codes of ``label(key)``, calling ``label`` once per distinct key.

    This is how per-resource string columns are built: the label depends on a few small
    integers (SKU, region, account ...) packed into one int64 key.
    """
    uniq, inverse = np.unique(keys, return_inverse=True)
    table = vocab.codes(label(int(k)) for k in uniq)
    return table[inverse].astype(np.int32, copy=False)


def float_text(x: float) -> str:
    """How a rate is written as text: up to 10 decimals, no trailing zeros (0.096, 1.0E-7 avoided)."""
    text = f"{x:.10f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def dict_column(codes: np.ndarray, vocab: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), vocab)


class MapSets:
    """Distinct string->string maps, referenced by id; id 0 is the empty map."""

    def __init__(self) -> None:
        self._index: dict[tuple[tuple[str, str], ...], int] = {}
        self.sets: list[tuple[tuple[str, str], ...]] = []
        self.add({})
        self._frozen: _FrozenSets | None = None

    def add(self, items: Mapping[str, str]) -> int:
        key = tuple(sorted(items.items()))
        idx = self._index.get(key)
        if idx is None:
            idx = self._index[key] = len(self.sets)
            self.sets.append(key)
            self._frozen = None
        return idx

    def keys(self) -> list[str]:
        """Sorted keys used by any set."""
        return sorted({k for s in self.sets for k, _ in s})

    def frozen(self) -> _FrozenSets:
        if self._frozen is None:
            self._frozen = _FrozenSets(self.sets)
        return self._frozen

    def map_array(self, ids: np.ndarray) -> pa.MapArray:
        return self.frozen().map_array(ids)

    def json_array(self, ids: np.ndarray) -> pa.DictionaryArray:
        """The rows' maps as JSON text (how a CUR 2.0 CSV export writes map columns)."""
        return dict_column(ids, self.frozen().json)

    def column(self, keys: Iterable[str]) -> tuple[np.ndarray, pa.Array]:
        """A flat column of the sets: per set, the code of the value of the first of ``keys``
        it holds ('' if none), and the vocabulary. Rows take ``codes[set_id]``."""
        keys = list(keys)
        vocab = Vocab([""])
        codes = np.zeros(len(self.sets), dtype=np.int32)
        for i, s in enumerate(self.sets):
            d = dict(s)
            codes[i] = vocab.code(next((d[k] for k in keys if k in d), ""))
        return codes, vocab.array()


class _FrozenSets:
    """Flat key/value codes of every set; a row's map is a slice of them."""

    def __init__(self, sets: list[tuple[tuple[str, str], ...]]) -> None:
        self.lengths = np.array([len(s) for s in sets], dtype=np.int64)
        self.starts = np.zeros(len(sets), dtype=np.int64)
        np.cumsum(self.lengths[:-1], out=self.starts[1:])
        keys, values = Vocab(), Vocab()
        self.key_codes = np.array([keys.code(k) for s in sets for k, _ in s], dtype=np.int32)
        self.value_codes = np.array([values.code(v) for s in sets for _, v in s], dtype=np.int32)
        self.keys, self.values = keys.array(), values.array()
        self.json = pa.array([json.dumps(dict(s), separators=(",", ":")) for s in sets], type=pa.string())

    def map_array(self, ids: np.ndarray) -> pa.MapArray:
        # Dictionary-coded keys and values: no string copies here, and the Parquet writer
        # takes the codes as they are instead of hashing every element.
        offsets, elements = expand_offsets(self.starts[ids], self.lengths[ids])
        return pa.MapArray.from_arrays(
            pa.array(offsets), dict_column(self.key_codes[elements], self.keys),
            dict_column(self.value_codes[elements], self.values),
        )


def expand_offsets(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """List offsets for rows of ``lengths`` elements, and each element's index in the flat source."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    elements = np.repeat(starts - offsets[:-1], lengths) + np.arange(total, dtype=np.int64)
    return offsets, elements


def discount_map(values: np.ndarray) -> pa.MapArray:
    """``discount`` map rows: {'edp_discount': v} where v != 0, else the empty map."""
    present = values != 0
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(present, out=offsets[1:])
    items = values[present]
    keys = dict_column(np.zeros(len(items), dtype=np.int32), pa.array(["edp_discount"]))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, pa.array(items, type=pa.float64()))


def discount_json(values: np.ndarray) -> pa.Array:
    """``discount`` as JSON text, as a CUR 2.0 CSV export writes map columns."""
    arr = pa.array(values, type=pa.float64())
    text = pc.binary_join_element_wise('{"edp_discount":', pc.cast(arr, pa.string()), "}", "")
    return pc.if_else(pc.not_equal(arr, 0.0), text, pa.scalar("{}"))
