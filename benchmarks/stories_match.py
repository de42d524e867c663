"""The story matcher on ParaPhraser's train split: 5-fold cross-validated precision/recall/F1 of the
matcher (with and without the embedder) beside a character n-gram TF-IDF baseline, and the speed of
`ticker stories match --pairs` as a whole process.

    .venv/bin/python benchmarks/stories_match.py            # CV figures and speed
    .venv/bin/python benchmarks/stories_match.py --write    # also refit on all pairs and write the
                                                            # shipped model (ticker/stories/matcher.json.gz)
    --gbm: also gradient-boosted trees (scikit-learn); --stemmer: lemmas against Snowball stems

The model: logistic weights over the pair's features plus, with the embedder, a learned similarity of
the two sentence vectors (a low-rank bilinear form, fitted jointly), all evaluated in numpy at run time.

Labels: ParaPhraser's classes are 1 strict paraphrase, 0 loose, -1 not. Reading A (the one the held-out
bar uses, see RESULTS.md): same = {1, 0}. Reading B: same = {1} only (0 and -1 different).

Folds are grouped: headlines linked by any pair fall in one fold, so no headline is in both a training
and a scored fold. On each split the weights and the cut-off are fitted on four folds and scored on the
fifth; figures are pooled over the five scored folds. The cut-off is the best F1 whose precision, projected
to a set where SHARE of the pairs are same-story, is at least PROJECTED_PRECISION, read from the four
folds' own out-of-fold scores (nested CV; training scores flatter a model with many parameters). The
previous recipe's rows use its rule (training precision >= TARGET_PRECISION). The shipped cut-off is read
the same way from the five folds' out-of-fold scores. The IDF table is counted on all headlines' text
(no labels).

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
from scipy import optimize

from ticker.stories import embed
from ticker.stories import text as text_module
from ticker.stories.features import EMBEDDING_FEATURES, FEATURES, features
from ticker.stories.match import Report, compare, fingerprints
from ticker.stories.model import MODEL_FILE, Model, model
from ticker.stories.text import read

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "reference" / "stories" / "paraphraser_train.xml"
CACHE = Path(tempfile.gettempdir()) / "ticker-stories-bench"
# The bar is precision 0.80 on held-out sets that differ from this one. The TF-IDF baseline's held-out figures
# (P 0.65, F1 0.775) are what its train-split recall and false-positive rate give where half the pairs are
# same-story (this split: 64%): the cut-off keeps precision >= 0.80 there too.
TARGET_PRECISION = 0.89  # the previous recipe's cut-off rule (training precision), kept for comparison
# This recipe's cut-off rule: precision projected to a set where SHARE of the pairs are same-story (from
# out-of-fold scores, nested inside each CV split) at least PROJECTED_PRECISION, the best F1 there.
SHARE = 0.55
PROJECTED_PRECISION = 0.84
FOLDS = 5
L2 = 0.1  # light: the embedding cosine lives in a narrow range and needs a large weight
# Hand-set, not fitted: the story definition makes another key figure, a comment on the event and a denial
# other stories, while ParaPhraser labels paraphrase (a loose one often is a comment) and has few such pairs.
RULES = {"key_conflict": -8.0, "comment_xor": -4.0, "denial_xor": -5.0}
# Features this recipe added (the previous recipe's rows leave them out).
NEW_FEATURES = {"coverage_min", "soft_min", "soft_max", "unmatched_min", "unmatched_max"}


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


# --- the model: logistic weights and a learned similarity of the two sentence vectors ---------------

# The learned similarity: the pair's vectors a, b scored as a^T (W W^T - V V^T) b with W and V of RANK
# columns each, fitted jointly with the logistic weights (L2 on W and V: LAM). Measured on the same folds:
# ranks 1, 2 and 8 score alike (AUC 0.916), LAM 10 better than 1, 5, 20 or 30, and a diagonal term (each
# dimension's product weighed) adds nothing.
RANK = 1
LAM = 10.0


class Design:
    """A feature matrix split into the fitted columns and the hand-set ones (a fixed offset), with the
    pairs' two sentence vectors when the learned similarity is part of the model."""

    def __init__(
        self, x: np.ndarray, names: list[str], a: np.ndarray | None = None, b: np.ndarray | None = None
    ):
        self.names = names
        self.fitted = [i for i, k in enumerate(names) if k not in RULES and k != "learned"]
        self.x = x[:, self.fitted]
        ruled = [i for i, k in enumerate(names) if k in RULES]
        self.offset = x[:, ruled] @ np.array([RULES[names[i]] for i in ruled]) if ruled else np.zeros(len(x))
        self.a, self.b = (a, b) if "learned" in names else (None, None)

    def rows(self, mask: np.ndarray) -> Design:
        part = Design.__new__(Design)
        part.names, part.fitted, part.x, part.offset = (
            self.names,
            self.fitted,
            self.x[mask],
            self.offset[mask],
        )
        part.a, part.b = (None, None) if self.a is None else (self.a[mask], self.b[mask])
        return part


class Fitted:
    """Fitted weights (bias last) on the raw feature scale, and the projection (dimensions x 2 RANK)
    when the model has the learned similarity."""

    def __init__(self, w: np.ndarray, projection: np.ndarray | None):
        self.w, self.projection = w, projection

    def coefficients(self, d: Design) -> dict[str, float]:
        coefs = {d.names[i]: float(v) for i, v in zip(d.fitted, self.w[:-1], strict=True)}
        coefs.update({k: v for k, v in RULES.items() if k in d.names})
        if self.projection is not None:
            coefs["learned"] = 1.0  # the projection carries the scale
        coefs["bias"] = float(self.w[-1])
        return coefs


def fit_logistic(d: Design, y: np.ndarray, l2: float = L2) -> Fitted:
    """An L2-regularised logistic regression (bias unpenalised), by Newton's method on the raw features:
    the previous recipe's fit, kept to score it beside the new one."""
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
    return Fitted(w, None)


def fit_model(d: Design, y: np.ndarray, l2: float = L2) -> Fitted:
    """The logistic weights on standardised features (L2 `l2`, bias unpenalised) and, when `d` has the
    pairs' vectors, the learned similarity's projection, fitted jointly by L-BFGS."""
    mu, sd = d.x.mean(0), d.x.std(0) + 1e-9
    z = np.hstack([(d.x - mu) / sd, np.ones((len(d.x), 1))])
    nx = z.shape[1]
    dims = 0 if d.a is None else d.a.shape[1]
    size = dims * RANK

    def unpack(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return p[:nx], p[nx : nx + size].reshape(dims, RANK), p[nx + size :].reshape(dims, RANK)

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        w, up, down = unpack(p)
        s = z @ w + d.offset
        if dims:
            aw, bw, av, bv = d.a @ up, d.b @ up, d.a @ down, d.b @ down
            s = s + (aw * bw).sum(1) - (av * bv).sum(1)
        q = 1 / (1 + np.exp(-np.clip(s, -50, 50)))
        value = -np.sum(y * np.log(q + 1e-12) + (1 - y) * np.log(1 - q + 1e-12))
        value += 0.5 * l2 * np.sum(w[:-1] ** 2)
        g = q - y
        gw = z.T @ g
        gw[:-1] += l2 * w[:-1]
        if not dims:
            return value, gw
        value += 0.5 * LAM * (np.sum(up**2) + np.sum(down**2))
        gu = d.a.T @ (g[:, None] * bw) + d.b.T @ (g[:, None] * aw) + LAM * up
        gd = -(d.a.T @ (g[:, None] * bv) + d.b.T @ (g[:, None] * av)) + LAM * down
        return value, np.concatenate([gw, gu.ravel(), gd.ravel()])

    start = np.concatenate([np.zeros(nx), np.random.default_rng(0).normal(0, 0.01, 2 * size)])
    found = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    w, up, down = unpack(found)
    raw = np.append(w[:-1] / sd, w[-1] - np.sum(w[:-1] * mu / sd))  # back to the raw feature scale
    return Fitted(raw, np.hstack([up, down]) if dims else None)


def learned_terms(d: Design, projection: np.ndarray) -> np.ndarray:
    """Each pair's learned similarity (as `ticker.stories.features.learned` computes it)."""
    pa, pb = d.a @ projection, d.b @ projection
    return (pa[:, :RANK] * pb[:, :RANK]).sum(1) - (pa[:, RANK:] * pb[:, RANK:]).sum(1)


class Trees:
    """Gradient-boosted trees (scikit-learn), for comparison only: not shipped."""

    def __init__(self, trees):
        self.trees = trees


def fit_gbm(d: Design, y: np.ndarray) -> Trees:
    """Histogram gradient-boosted trees on the same features (the embedding cosine included; no
    learned similarity), the hand-set rules as features too."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # bench-only comparison, loaded when asked

    trees = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.03, max_depth=3, min_samples_leaf=30, random_state=0
    )
    return Trees(trees.fit(np.column_stack([d.x, d.offset]), y))


def predict(d: Design, f: Fitted | Trees) -> np.ndarray:
    if isinstance(f, Trees):
        return f.trees.predict_proba(np.column_stack([d.x, d.offset]))[:, 1]
    s = d.x @ f.w[:-1] + f.w[-1] + d.offset
    if f.projection is not None:
        s = s + learned_terms(d, f.projection)
    return 1 / (1 + np.exp(-np.clip(s, -50, 50)))


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


def best_projected_threshold(scores: np.ndarray, y: np.ndarray) -> float:
    """The cut-off with the best F1 among those whose precision, projected to a set where SHARE of the
    pairs are same-story (same recall and false-positive rate), is at least PROJECTED_PRECISION."""
    pos, neg = np.sort(scores[y == 1]), np.sort(scores[y == 0])
    best, best_t = -1.0, 0.5
    for t in np.unique(np.round(scores, 4)):
        recall = 1 - np.searchsorted(pos, t) / len(pos)
        fpr = 1 - np.searchsorted(neg, t) / len(neg)
        p, f = at_base_rate({"R": recall, "FPR": fpr}, SHARE)
        if p >= PROJECTED_PRECISION and f > best:
            best, best_t = f, float(t)
    return best_t


def out_of_fold(d: Design, y: np.ndarray, fold: np.ndarray, keys: list[int], fit=fit_model) -> np.ndarray:
    """Scores of the pairs in folds `keys`, each fold scored by a model fitted on the others of `keys`."""
    scores = np.zeros(len(y))
    for k in keys:
        train = np.isin(fold, keys) & (fold != k)
        scores[fold == k] = predict(d.rows(fold == k), fit(d.rows(train), y[train]))
    return scores


def cross_validate(
    d: Design, y: np.ndarray, folds: list[int], rule: str = "projected", scored: np.ndarray | None = None
) -> dict[str, float]:
    """Pooled out-of-fold P/R/F1 and AUC, each fold's weights and cut-off fitted on the other four
    against `y`, scored against `scored` (by default `y` too). The cut-off rule: "projected" (this
    recipe): from the four folds' own out-of-fold scores (nested), projected precision at SHARE >=
    PROJECTED_PRECISION; "previous": the previous recipe's (Newton fit, training precision >=
    TARGET_PRECISION on the training scores). The out-of-fold scores are returned as "scores"."""
    scored = y if scored is None else scored
    fold = np.array(folds)
    pred = np.zeros(len(y), dtype=bool)
    scores = np.zeros(len(y))
    fold_precisions = []
    for k in range(FOLDS):
        train, test = fold != k, fold == k
        if rule == "previous":
            w = fit_logistic(d.rows(train), y[train])
            t = best_threshold(predict(d.rows(train), w), y[train], TARGET_PRECISION)
        else:
            fit = fit_gbm if rule == "gbm" else fit_model
            w = fit(d.rows(train), y[train])
            inner = out_of_fold(d, y, fold, [j for j in range(FOLDS) if j != k], fit)
            t = best_projected_threshold(inner[train], y[train])
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
        "scores": scores,
        "pred": pred,
    }


def rescore(m: dict, scored: np.ndarray) -> dict[str, float]:
    """The same verdicts (`m`'s "pred") and scores scored against other labels."""
    p, r, f = prf(m["pred"], scored)
    return {"P": p, "R": r, "F1": f, "AUC": auc(m["scores"], scored), "min fold P": float("nan")}


def at_base_rate(m: dict[str, float], share: float) -> tuple[float, float]:
    """Precision and F1 of the same out-of-fold recall and false-positive rate on a set where `share`
    of the pairs are same-story (the held-out sets' share is not known)."""
    found = share * m["R"] + (1 - share) * m["FPR"]
    p = share * m["R"] / found if found else 0.0
    return p, (2 * p * m["R"] / (p + m["R"]) if p + m["R"] else 0.0)


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
    names = ["embedding", *(k for k in FEATURES if k not in EMBEDDING_FEATURES)]  # 0.0 without vectors
    x = np.array(
        [[features(fps[index[a]], fps[index[b]]).values.get(k, 0.0) for k in names] for a, b, _ in pairs]
    )
    y = np.array([1 if c in (1, 0) else 0 for _, _, c in pairs])
    rows = [("lexical only", cross_validate(Design(x[:, 1:], names[1:]), y, folds))]
    if vectors is not None:
        pair_a = np.vstack([vectors[index[a]] for a, _, _ in pairs]).astype(np.float64)
        pair_b = np.vstack([vectors[index[b]] for _, b, _ in pairs]).astype(np.float64)
        design = Design(np.hstack([x, np.zeros((len(x), 1))]), [*names, "learned"], pair_a, pair_b)
        rows.append(("with embedder", cross_validate(design, y, folds)))
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
        "--gbm",
        action="store_true",
        help="also score gradient-boosted trees on the same features (needs scikit-learn)",
    )
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

    lex_names = [k for k in FEATURES if k not in EMBEDDING_FEATURES]
    old_lex = [k for k in lex_names if k not in NEW_FEATURES]
    x_lex = Design(matrix(fps_lex, lex_names), lex_names)
    x_old_lex = Design(matrix(fps_lex, old_lex), old_lex)
    x_emb = x_old_emb = x_plain_emb = x_only_emb = None
    if fps_emb is not None:
        full = ["embedding", *lex_names]
        xf = matrix(fps_emb, full)
        pair_a = np.vstack([vectors[index[a]] for a, _, _ in pairs]).astype(np.float64)
        pair_b = np.vstack([vectors[index[b]] for _, b, _ in pairs]).astype(np.float64)
        x_emb = Design(np.hstack([xf, np.zeros((len(xf), 1))]), [*full, "learned"], pair_a, pair_b)
        x_plain_emb = Design(xf, full)
        keep = [i for i, k in enumerate(full) if k not in NEW_FEATURES]
        x_old_emb = Design(xf[:, keep], [full[i] for i in keep])
        x_only_emb = Design(xf[:, :1], ["embedding"])
    cos = tfidf_cosines(pairs, texts)

    y = np.array([1 if c in (1, 0) else 0 for _, _, c in pairs])
    y_b = np.array([1 if c == 1 else 0 for _, _, c in pairs])
    rows = [
        ("char 3-5-gram TF-IDF cosine, cut-off for best F1", cv_threshold_only(cos, y, folds, None)),
        (
            f"char 3-5-gram TF-IDF cosine, cut-off at training P>={TARGET_PRECISION}",
            cv_threshold_only(cos, y, folds, TARGET_PRECISION),
        ),
        ("previous matcher, lexical only", cross_validate(x_old_lex, y, folds, "previous")),
    ]
    if x_emb is not None:
        rows.append(("previous matcher with embedder", cross_validate(x_old_emb, y, folds, "previous")))
        rows.append(("embedding cosine alone", cross_validate(x_only_emb, y, folds)))
    rows.append(("**matcher, lexical only (no embedder)**", cross_validate(x_lex, y, folds)))
    if x_emb is not None:
        rows.append(("matcher with embedder, cosine only", cross_validate(x_plain_emb, y, folds)))
        rows.append(
            (
                "**matcher with embedder + learned similarity (shipped default)**",
                cross_validate(x_emb, y, folds),
            )
        )
    if args.gbm and x_plain_emb is not None:
        rows.append(
            ("gradient-boosted trees, same features as the row above", cross_validate(x_emb, y, folds, "gbm"))
        )
        rows.append(("gradient-boosted trees, lexical only", cross_validate(x_lex, y, folds, "gbm")))
    print(
        f"\n#### Reading A (same = classes 1 and 0): 5-fold grouped CV\n\nCut-off: previous rows and TF-IDF at "
        f"training precision >= {TARGET_PRECISION}; the others at projected precision >= {PROJECTED_PRECISION} "
        f"at share {SHARE} (nested out-of-fold scores)\n"
    )
    print(table(rows))
    print("\nThe same recall and false-positive rate where fewer pairs are same-story:\n")
    print("| method | share same | precision | F1 |\n|---|---|---|---|")
    for name, m in rows:
        for share in (0.55, 0.5):
            p, f = at_base_rate(m, share)
            print(f"| {name} | {share:.2f} | {p:.3f} | {f:.3f} |")
    print("\n#### Reading B (same = class 1 only): the reading-A models' verdicts scored against it\n")
    print(table([(name, rescore(m, y_b)) for name, m in rows if "matcher" in name]))

    if args.stemmer:
        print("\n#### Lemmas or stems (reading A, same CV and cut-off rule)\n")
        rows = [(f"pymorphy3 lemmas: {name}", m) for name, m in matcher_cv(pairs, texts, vectors, folds)]
        print(table(rows + stemmer_comparison(pairs, texts, vectors, folds)))

    if args.write:
        out = {"documents": base.documents, "frequencies": dict(sorted(base.frequencies.items()))}
        scored = {name: m for name, m in rows}
        for key, x, name in (
            ("lexical", x_lex, "**matcher, lexical only (no embedder)**"),
            ("with_embedding", x_emb, "**matcher with embedder + learned similarity (shipped default)**"),
        ):
            if x is None:
                continue
            fitted = fit_model(x, y)
            t = best_projected_threshold(scored[name]["scores"], y)  # the cut-off from out-of-fold scores
            coefs = {k: round(v, 5) for k, v in fitted.coefficients(x).items()}
            coefs["bias"] = round(coefs["bias"] - math.log(t / (1 - t)), 5)  # so the cut-off is 0.5
            out[key] = coefs
            if fitted.projection is not None:
                out["projection"] = np.round(fitted.projection, 4).tolist()
                out["learned_mean"] = round(float(np.mean(learned_terms(x, fitted.projection))), 4)
            print(f"\n{key}: cut-off {t:.3f}, weights {coefs}")
        target = ROOT / "ticker" / "stories" / MODEL_FILE
        target.write_bytes(gzip.compress(json.dumps(out, ensure_ascii=False).encode(), mtime=0))
        model.cache_clear()
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
        shipped_lex = fingerprints(reports, vectors=[None] * len(texts))
        shipped_emb = fingerprints(reports, vectors=vectors) if vectors is not None else None
        for name, fps in (("with embedder", shipped_emb), ("lexical only", shipped_lex)):
            if fps is not None:
                cpu = time.process_time()
                rate = compare_speed(fps, probe)
                print(
                    f"compare() {name}: {rate:,.0f} pairs/s in-process "
                    f"({len(probe) / (time.process_time() - cpu):,.0f} per CPU second)"
                )
        sample = texts[:10_000]
        tracemalloc.start()
        kept = fingerprints([Report(t) for t in sample], vectors=vectors[: len(sample)] if vectors else None)
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"memory of {len(kept):,} fingerprints (with their vectors if any): {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
