"""The story matcher on ParaPhraser's train split: 5-fold cross-validated precision/recall/F1 of the
matcher (with and without the embedder) beside a character n-gram TF-IDF baseline, and the speed of
`ticker stories match --pairs` as a whole process.

    .venv/bin/python benchmarks/stories_match.py            # CV figures and speed
    .venv/bin/python benchmarks/stories_match.py --write    # also refit on all pairs and write the
                                                            # shipped model (ticker/stories/matcher.json.gz)

Labels: ParaPhraser's classes are 1 strict paraphrase, 0 loose, -1 not. Reading A (the one the held-out
bar uses, see RESULTS.md): same = {1, 0}. Reading B: same = {1} only (0 and -1 different).

Folds are grouped: headlines linked by any pair fall in one fold, so no headline is in both a training
and a scored fold. On each split the logistic weights and the cut-off are fitted on four folds (the cut-off
is the best F1 with training precision >= TARGET_PRECISION) and scored on the fifth; figures are pooled
over the five scored folds. The IDF table is counted on all headlines' text (no labels).

Embeddings of the 12,000 headlines take minutes on 2 cores: they are cached under /tmp.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ticker.stories import embed
from ticker.stories import text as text_module
from ticker.stories.features import FEATURES, features
from ticker.stories.match import Report, compare, fingerprints
from ticker.stories.model import MODEL_FILE, Model
from ticker.stories.text import read

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "reference" / "stories" / "paraphraser_train.xml"
CACHE = Path(tempfile.gettempdir()) / "ticker-stories-bench"
# The bar is precision 0.80 on held-out sets that differ from this one. The TF-IDF baseline's held-out figures
# (P 0.65, F1 0.775) are what its train-split recall and false-positive rate give where half the pairs are
# same-story (this split: 64%): the cut-off keeps precision >= 0.80 there too.
TARGET_PRECISION = 0.89
FOLDS = 5
L2 = 0.1  # light: the embedding cosine lives in a narrow range and needs a large weight
# Hand-set, not fitted: the story definition makes another key figure, a comment on the event and a denial
# other stories, while ParaPhraser labels paraphrase (a loose one often is a comment) and has few such pairs.
RULES = {"key_conflict": -8.0, "comment_xor": -4.0, "denial_xor": -5.0}


def load_pairs(path: Path) -> list[tuple[str, str, int]]:
    """(text_1, text_2, class) for every pair; the header's 'UTF8' is not a name Python's parser knows."""
    raw = path.read_bytes().replace(b"encoding='UTF8'", b"encoding='UTF-8'", 1)
    pairs = []
    for p in ET.fromstring(raw).iter("paraphrase"):
        v = {e.get("name"): (e.text or "").strip() for e in p.findall("value")}
        pairs.append((v["text_1"], v["text_2"], int(v["class"])))
    return pairs


def group_folds(pairs: list[tuple[str, str, int]], folds: int) -> list[int]:
    """A fold per pair such that the pairs sharing a headline share a fold (connected components)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in pairs:
        parent[find(a)] = find(b)
    components: dict[str, list[int]] = defaultdict(list)
    for i, (a, _, _) in enumerate(pairs):
        components[find(a)].append(i)
    order = sorted(components.values(), key=lambda c: (-len(c), c[0]))
    random.Random(21).shuffle(order)
    order.sort(key=len, reverse=True)
    sizes = [0] * folds
    fold_of = [0] * len(pairs)
    for comp in order:
        f = sizes.index(min(sizes))
        sizes[f] += len(comp)
        for i in comp:
            fold_of[i] = f
    return fold_of


def idf_model(texts: list[str]) -> Model:
    """The IDF table counted on these texts' lemmas, with no weights yet."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(set(read(t).lemmas))
    kept = {k: v for k, v in counts.items() if v > 1}  # seen once weighs as unseen: keeps the table small
    return Model(len(texts), kept, {}, {})


def embeddings(texts: list[str]) -> list[np.ndarray] | None:
    """The embedder's vectors for the texts, cached on disk; None without the embedder."""
    if not embed.available():
        return None
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"e5-{key}.npy"
    if path.exists():
        return list(np.load(path))
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    vectors = np.vstack(embed.embed(texts))
    print(f"embedded {len(texts)} headlines in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    np.save(path, vectors)
    return list(vectors)


# --- the logistic model ------------------------------------------------------------------------


class Design:
    """A feature matrix split into the fitted columns and the hand-set ones (a fixed offset)."""

    def __init__(self, x: np.ndarray, names: list[str]):
        self.names = names
        self.fitted = [i for i, k in enumerate(names) if k not in RULES]
        self.x = x[:, self.fitted]
        ruled = [i for i, k in enumerate(names) if k in RULES]
        self.offset = x[:, ruled] @ np.array([RULES[names[i]] for i in ruled]) if ruled else np.zeros(len(x))

    def rows(self, mask: np.ndarray) -> Design:
        part = Design.__new__(Design)
        part.names, part.fitted, part.x, part.offset = (
            self.names,
            self.fitted,
            self.x[mask],
            self.offset[mask],
        )
        return part

    def coefficients(self, w: np.ndarray) -> dict[str, float]:
        coefs = {self.names[i]: float(v) for i, v in zip(self.fitted, w[:-1], strict=True)}
        coefs.update({k: v for k, v in RULES.items() if k in self.names})
        coefs["bias"] = float(w[-1])
        return coefs


def fit_logistic(d: Design, y: np.ndarray, l2: float = L2) -> np.ndarray:
    """Weights (bias last) of an L2-regularised logistic regression, by Newton's method."""
    xb = np.hstack([d.x, np.ones((len(d.x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(xb @ w + d.offset)))
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def predict(d: Design, w: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(d.x @ w[:-1] + w[-1] + d.offset)))


def prf(pred: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def best_threshold(scores: np.ndarray, y: np.ndarray, min_precision: float | None) -> float:
    """The cut-off with the best F1 (among those with precision >= min_precision, if given)."""
    best, best_t = -1.0, 0.5
    for t in np.unique(np.round(scores, 4)):
        p, _, f = prf(scores >= t, y)
        if (min_precision is None or p >= min_precision) and f > best:
            best, best_t = f, float(t)
    return best_t


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def cross_validate(
    d: Design, y: np.ndarray, folds: list[int], min_precision: float | None, scored: np.ndarray | None = None
) -> dict[str, float]:
    """Pooled out-of-fold P/R/F1 and AUC, each fold's cut-off and weights fitted on the other four
    against `y`, scored against `scored` (by default `y` too)."""
    scored = y if scored is None else scored
    fold = np.array(folds)
    pred = np.zeros(len(y), dtype=bool)
    scores = np.zeros(len(y))
    fold_precisions = []
    for k in range(FOLDS):
        train, test = fold != k, fold == k
        w = fit_logistic(d.rows(train), y[train])
        t = best_threshold(predict(d.rows(train), w), y[train], min_precision)
        scores[test] = predict(d.rows(test), w)
        pred[test] = scores[test] >= t
        fold_precisions.append(prf(pred[test], scored[test])[0])
    p, r, f = prf(pred, scored)
    fpr = float(np.mean(pred[scored == 0]))
    return {
        "P": p,
        "R": r,
        "F1": f,
        "AUC": auc(scores, scored),
        "min fold P": min(fold_precisions),
        "FPR": fpr,
    }


def at_base_rate(m: dict[str, float], share: float) -> tuple[float, float]:
    """Precision and F1 of the same out-of-fold recall and false-positive rate on a set where `share`
    of the pairs are same-story (the held-out sets' share is not known)."""
    p = share * m["R"] / (share * m["R"] + (1 - share) * m["FPR"])
    return p, 2 * p * m["R"] / (p + m["R"])


# --- the baseline: character 3-5-gram TF-IDF cosine ---------------------------------------------


def char_grams(text: str) -> Counter[str]:
    t = f" {' '.join(text.lower().split())} "
    return Counter(t[i : i + n] for n in (3, 4, 5) for i in range(len(t) - n + 1))


def tfidf_cosines(pairs: list[tuple[str, str, int]], texts: list[str]) -> np.ndarray:
    df: Counter[str] = Counter()
    grams = {t: char_grams(t) for t in texts}
    for g in grams.values():
        df.update(g.keys())
    n = len(texts)
    vectors = {}
    for t, g in grams.items():
        v = {k: (1 + math.log(c)) * (math.log((n + 1) / (df[k] + 1)) + 1) for k, c in g.items()}
        norm = math.sqrt(sum(w * w for w in v.values())) or 1.0
        vectors[t] = {k: w / norm for k, w in v.items()}
    out = []
    for a, b, _ in pairs:
        va, vb = vectors[a], vectors[b]
        out.append(sum(w * vb.get(k, 0.0) for k, w in va.items()))
    return np.array(out)


def cv_threshold_only(scores: np.ndarray, y: np.ndarray, folds: list[int], min_precision: float | None):
    fold = np.array(folds)
    pred = np.zeros(len(y), dtype=bool)
    for k in range(FOLDS):
        t = best_threshold(scores[fold != k], y[fold != k], min_precision)
        pred[fold == k] = scores[fold == k] >= t
    p, r, f = prf(pred, y)
    fpr = float(np.mean(pred[y == 0]))
    return {"P": p, "R": r, "F1": f, "AUC": auc(scores, y), "min fold P": float("nan"), "FPR": fpr}


# --- pymorphy3 lemmas or Snowball stems ----------------------------------------------------------

_FUNCTION_WORDS = set(
    [
        "в",
        "на",
        "с",
        "и",
        "по",
        "за",
        "о",
        "об",
        "от",
        "до",
        "из",
        "к",
        "у",
        "для",
        "при",
        "а",
        "но",
        "что",
        "как",
        "после",
        "под",
        "над",
        "без",
        "его",
        "их",
        "ее",
        "это",
    ]
)


def stemmer_comparison(pairs, texts, vectors, folds) -> list[tuple[str, dict[str, float]]]:
    """The matcher's CV figures with its pymorphy3 lemmas swapped for Snowball's Russian stems
    (aliases then match only where the stem equals the lemma; no proper-name tags)."""
    import snowballstemmer  # a bench-only comparison, loaded only when asked for

    stem = snowballstemmer.stemmer("russian")

    def snowball(word: str) -> tuple[str, str, bool]:
        if not any("а" <= ch <= "я" or ch == "ё" for ch in word):
            return word, "LATN", False
        return stem.stemWord(word), ("PREP" if word in _FUNCTION_WORDS else ""), False

    lemma = text_module._lemma
    text_module._lemma = snowball
    try:
        return [(f"Snowball stems: {name}", m) for name, m in matcher_cv(pairs, texts, vectors, folds)]
    finally:
        text_module._lemma = lemma


def matcher_cv(pairs, texts, vectors, folds) -> list[tuple[str, dict[str, float]]]:
    """Reading A figures of the matcher with and without the embedder, fingerprints read afresh."""
    index = {t: i for i, t in enumerate(texts)}
    base = idf_model(texts)
    fps = fingerprints([Report(t) for t in texts], base, vectors or [None] * len(texts))
    names = list(FEATURES)  # "embedding" first: 0.0 without vectors
    x = np.array(
        [[features(fps[index[a]], fps[index[b]]).values.get(k, 0.0) for k in names] for a, b, _ in pairs]
    )
    y = np.array([1 if c in (1, 0) else 0 for _, _, c in pairs])
    rows = [("lexical only", cross_validate(Design(x[:, 1:], names[1:]), y, folds, TARGET_PRECISION))]
    if vectors is not None:
        rows.append(("with embedder", cross_validate(Design(x, names), y, folds, TARGET_PRECISION)))
    return rows


# --- speed ------------------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def speed(pairs: list[tuple[str, str, int]], n: int, rounds: int) -> list[tuple[str, float, float, float]]:
    """Whole-process `ticker stories match --pairs` on n pairs, with and without the embedder,
    interleaved: (variant, seconds, headlines a second, CPU seconds) per round."""
    rows = []
    sample = pairs[:n]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.tsv"
        path.write_text("".join(f"{a}\t{b}\n" for a, b, _ in sample), encoding="utf-8")
        headlines = len({t for a, b, _ in sample for t in (a, b)})
        ticker = str(Path(sys.executable).with_name("ticker"))
        for _ in range(rounds):
            for variant, env in (("with embedder", "0"), ("lexical only", "1")):
                if variant == "with embedder" and not embed.available():
                    continue
                cpu_before = _children_cpu()
                started = time.perf_counter()
                subprocess.run(
                    [ticker, "stories", "match", "--pairs", str(path)],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    env={**os.environ, "TICKER_NO_EMBEDDER": env},
                )
                took = time.perf_counter() - started
                rows.append((variant, took, headlines / took, _children_cpu() - cpu_before))
    return rows


def compare_speed(fps: list, pairs: list[tuple[int, int]]) -> float:
    """In-process compare() calls a second (the grouping's inner loop)."""
    started = time.perf_counter()
    for a, b in pairs:
        compare(fps[a], fps[b])
    return len(pairs) / (time.perf_counter() - started)


# --- main -------------------------------------------------------------------------------------


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = [
        "| method | precision | recall | F1 | AUC | lowest fold precision |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['P']:.3f} | {m['R']:.3f} | {m['F1']:.3f} | {m['AUC']:.3f} | "
            + ("" if math.isnan(m["min fold P"]) else f"{m['min fold P']:.3f}")
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="refit on all pairs and write the shipped model")
    parser.add_argument("--speed-pairs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--stemmer",
        action="store_true",
        help="also score the matcher on Snowball stems (needs snowballstemmer)",
    )
    args = parser.parse_args()

    pairs = load_pairs(DATA)
    texts = sorted({t for a, b, _ in pairs for t in (a, b)})
    index = {t: i for i, t in enumerate(texts)}
    classes = Counter(c for _, _, c in pairs)
    print(f"{len(pairs)} pairs, {len(texts)} distinct headlines; classes {dict(sorted(classes.items()))}")
    print(
        f"share with class 1 or 0: {(classes[1] + classes[0]) / len(pairs):.3f} "
        f"(so 'always same' under reading A: P {(classes[1] + classes[0]) / len(pairs):.3f}, R 1)"
    )
    folds = group_folds(pairs, FOLDS)
    print("pairs per fold:", dict(sorted(Counter(folds).items())))

    base = idf_model(texts)
    vectors = embeddings(texts)
    reports = [Report(t) for t in texts]
    fps_lex = fingerprints(reports, base, [None] * len(texts))
    fps_emb = fingerprints(reports, base, vectors) if vectors is not None else None

    def matrix(fps, names):
        return np.array(
            [[features(fps[index[a]], fps[index[b]]).values.get(k, 0.0) for k in names] for a, b, _ in pairs]
        )

    lex_names = [k for k in FEATURES if k != "embedding"]
    x_lex = Design(matrix(fps_lex, lex_names), lex_names)
    x_emb = Design(matrix(fps_emb, list(FEATURES)), list(FEATURES)) if fps_emb is not None else None
    x_only_emb = Design(x_emb.x[:, :1], ["embedding"]) if x_emb is not None else None
    cos = tfidf_cosines(pairs, texts)

    for reading, positive in (("A: same = classes 1 and 0", {1, 0}), ("B: same = class 1 only", {1})):
        y = np.array([1 if c in positive else 0 for _, _, c in pairs])
        rows = [
            ("char 3-5-gram TF-IDF cosine, cut-off for best F1", cv_threshold_only(cos, y, folds, None)),
            (
                f"char 3-5-gram TF-IDF cosine, cut-off at P>={TARGET_PRECISION}",
                cv_threshold_only(cos, y, folds, TARGET_PRECISION),
            ),
            ("matcher, lexical only (no embedder)", cross_validate(x_lex, y, folds, TARGET_PRECISION)),
        ]
        if x_emb is not None:
            rows.append(("embedding cosine alone", cross_validate(x_only_emb, y, folds, TARGET_PRECISION)))
            rows.append(
                ("matcher with embedder (shipped default)", cross_validate(x_emb, y, folds, TARGET_PRECISION))
            )
        if positive == {1}:
            y_a = np.array([1 if c in (1, 0) else 0 for _, _, c in pairs])
            rows.append(
                (
                    "shipped model (fitted to reading A), lexical only",
                    cross_validate(x_lex, y_a, folds, TARGET_PRECISION, y),
                )
            )
            if x_emb is not None:
                rows.append(
                    (
                        "shipped model (fitted to reading A), with embedder",
                        cross_validate(x_emb, y_a, folds, TARGET_PRECISION, y),
                    )
                )
        print(
            f"\n#### Reading {reading}: 5-fold grouped CV, cut-off at training precision >= {TARGET_PRECISION}\n"
        )
        print(table(rows))
        if positive == {1, 0}:
            print("\nThe same recall and false-positive rate where fewer pairs are same-story:\n")
            print("| method | share same | precision | F1 |\n|---|---|---|---|")
            for name, m in rows:
                for share in (0.55, 0.5):
                    p, f = at_base_rate(m, share)
                    print(f"| {name} | {share:.2f} | {p:.3f} | {f:.3f} |")

    if args.stemmer:
        print(
            f"\n#### Lemmas or stems (reading A, same CV, cut-off at training precision >= {TARGET_PRECISION})\n"
        )
        rows = [(f"pymorphy3 lemmas: {name}", m) for name, m in matcher_cv(pairs, texts, vectors, folds)]
        print(table(rows + stemmer_comparison(pairs, texts, vectors, folds)))

    y = np.array([1 if c in (1, 0) else 0 for _, _, c in pairs])
    if args.write:
        out = {"documents": base.documents, "frequencies": dict(sorted(base.frequencies.items()))}
        for key, x in (("lexical", x_lex), ("with_embedding", x_emb)):
            if x is None:
                continue
            w = fit_logistic(x, y)
            t = best_threshold(predict(x, w), y, TARGET_PRECISION)
            coefs = {k: round(v, 5) for k, v in x.coefficients(w).items()}
            coefs["bias"] = round(coefs["bias"] - math.log(t / (1 - t)), 5)  # so the cut-off is 0.5
            out[key] = coefs
            print(f"\n{key}: cut-off {t:.3f}, weights {coefs}")
        target = ROOT / "ticker" / "stories" / MODEL_FILE
        target.write_bytes(gzip.compress(json.dumps(out, ensure_ascii=False).encode(), mtime=0))
        print(f"wrote {target} ({target.stat().st_size} bytes)")

    if args.speed_pairs:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        rows = speed(pairs, args.speed_pairs, args.rounds)
        n_head = len({t for a, b, _ in pairs[: args.speed_pairs] for t in (a, b)})
        print(
            f"\n#### Speed: `ticker stories match --pairs` on {args.speed_pairs} pairs ({n_head} headlines), whole process\n"
        )
        print(f"load average at start: {load} (2 cores); CPU seconds are the process's own\n")
        print("| variant | median s | headlines/s (median) | CPU s (median) | headlines per CPU s | rounds |")
        print("|---|---|---|---|---|---|")
        for variant in ("with embedder", "lexical only"):
            got = [r for r in rows if r[0] == variant]
            if got:
                cpu = statistics.median(r[3] for r in got)
                print(
                    f"| {variant} | {statistics.median(r[1] for r in got):.2f} | "
                    f"{statistics.median(r[2] for r in got):.0f} | {cpu:.1f} | {n_head / cpu:.0f} | {len(got)} |"
                )
        rng = random.Random(7)
        probe = [(rng.randrange(len(texts)), rng.randrange(len(texts))) for _ in range(20000)]
        for name, fps in (("with embedder", fps_emb), ("lexical only", fps_lex)):
            if fps is not None:
                cpu = time.process_time()
                rate = compare_speed(fps, probe)
                print(
                    f"compare() {name}: {rate:,.0f} pairs/s in-process "
                    f"({len(probe) / (time.process_time() - cpu):,.0f} per CPU second)"
                )
        sample = texts[:10_000]
        tracemalloc.start()
        kept = fingerprints([Report(t) for t in sample], base, vectors[: len(sample)] if vectors else None)
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"memory of {len(kept):,} fingerprints (with their vectors if any): {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
