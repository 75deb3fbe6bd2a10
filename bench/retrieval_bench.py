"""Profiles and retrieval benchmark: writes every figure of issue 5 to one JSON file.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice python bench/retrieval_bench.py \
        --out var/bench/retrieval.json

Needs the real item vectors (``recgen index rebuild`` writes them to INDEX_DIR/items).
Timings are compared as ratios measured in the same run, single-threaded.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm import tqdm

from bench.common import git_commit
from recgen.catalog.styles import read_styles
from recgen.core.config import get_settings
from recgen.experiments.simulator import Simulator
from recgen.profiles.model import (
    KIND_WEIGHTS,
    ItemFeatures,
    ProfileState,
    make_profile,
    rebuild_profiles,
)
from recgen.profiles.personas import Personas, tradeoff
from recgen.profiles.service import lookalike_vector
from recgen.retrieval.candidates import Retriever
from recgen.retrieval.index import VectorIndex, normalize
from recgen.retrieval.item_vectors import ItemVectors


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def per_query_ms(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Search one query at a time (the feed-refresh pattern); median milliseconds per query.

    The median, not the mean: the CPUs are shared with training jobs, whose bursts would
    otherwise decide the ratio.
    """
    ids = np.zeros((len(queries), k), dtype=np.int64)
    times = np.zeros(len(queries))
    for i in range(len(queries)):
        start = time.perf_counter()
        ids[i] = index.search(queries[i : i + 1], k)[1][0]
        times[i] = time.perf_counter() - start
    return ids, float(np.median(times) * 1000)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    pairs = zip(found, truth, strict=True)
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in pairs]))


def retrieval(items: ItemVectors, queries: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """Real item vectors replicated with noise to ``--corpus`` items; exact vs IVF."""
    rng = np.random.default_rng(0)
    copies = -(-args.corpus // len(items.text))
    base = np.tile(items.text, (copies, 1))[: args.corpus]
    corpus = normalize(base + rng.normal(0, args.noise, base.shape).astype(np.float32))
    del base
    ids = np.arange(args.corpus, dtype=np.int64)
    # The reference is plain exact FAISS search (BLAS inner products over the whole corpus).
    exact, build_exact_s = timed(_flat, corpus)
    ivf, build_ivf_s = timed(VectorIndex.build, ids, corpus, model_version="bench",
                             exact_threshold=0, nlist=args.nlist)
    truth, exact_ms = per_query_ms(exact, queries, 10)
    sweep = []
    for nprobe in (1, 2, 4, 8, 16, 32, 64):
        ivf.nprobe = nprobe
        found, ms = per_query_ms(ivf, queries, 10)
        sweep.append({"nprobe": nprobe, "recall_at_10": recall(found, truth), "ms_per_query": ms,
                      "speedup": exact_ms / ms})
    chosen = next((s for s in sweep if s["recall_at_10"] >= 0.97), sweep[-1])
    return {
        "corpus": args.corpus, "dimension": int(corpus.shape[1]), "noise_sigma": args.noise,
        "queries": len(queries), "nlist": ivf.nlist, "exact_ms_per_query": exact_ms,
        "build_exact_s": build_exact_s, "build_ivf_s": build_ivf_s, "sweep": sweep,
        "chosen_nprobe": chosen["nprobe"], "retrieval_recall_at_10": chosen["recall_at_10"],
        "retrieval_speedup": chosen["speedup"],
    }


def _flat(corpus: np.ndarray) -> Any:
    index = faiss.IndexFlatIP(corpus.shape[1])
    index.add(corpus)  # row number == id in this benchmark
    return index


def small_agreement(items: ItemVectors, queries: np.ndarray) -> dict[str, float]:
    """On a small corpus, IVF probing every list returns exactly the exact top-10."""
    ids = items.product_ids[:5000]
    exact = VectorIndex.build(ids, items.text[:5000], model_version="bench")
    ivf = VectorIndex.build(ids, items.text[:5000], model_version="bench", exact_threshold=0,
                            nlist=32)
    ivf.nprobe = ivf.nlist
    (sa, a), (sb, b) = exact.search(queries, 10), ivf.search(queries, 10)
    # Catalog texts repeat, so equal vectors tie and may come back in either order.
    return {"small_corpus": 5000, "identical_top10_ids_share": float(np.mean(np.all(a == b, 1))),
            "identical_top10_scores_share": float(np.mean(np.all(np.abs(sa - sb) < 1e-5, 1))),
            "recall_at_10": recall(b, a)}


def profile_update(features: ItemFeatures, events: int, users: int) -> dict[str, float]:
    """Per event: fold into the sums; make the profile (controls); upsert the user index."""
    rng = np.random.default_rng(1)
    pids = features.vectors.product_ids[rng.integers(0, len(features.row_of), events)]
    kinds = rng.choice(list(KIND_WEIGHTS), events)
    state = ProfileState.empty(features)
    out: dict[str, float] = {"events": events, "user_index_size": users}
    for label, size in (("exact", min(users, 20_000)), ("ivf", users)):
        index = VectorIndex.build(np.arange(size), rng.normal(size=(size, features.dimension)),
                                  model_version="bench", exact_threshold=20_000, nlist=256)
        out[f"user_index_{label}_size"] = size
        ns = np.zeros((events, 3))
        for i in range(events):
            t0 = time.perf_counter_ns()
            state.add(features, product_id=int(pids[i]), kind=str(kinds[i]), t=float(i * 60))
            t1 = time.perf_counter_ns()
            profile = make_profile(7, state, features, age=30)
            t2 = time.perf_counter_ns()
            index.upsert([7], profile.vector[None, :])
            ns[i] = (t1 - t0, t2 - t1, time.perf_counter_ns() - t2)
        p99, p50 = np.percentile(ns, 99, axis=0) / 1e6, np.median(ns, axis=0) / 1e6
        out |= {"profile_update_p99_ms": float(p99[0]), "profile_update_p50_ms": float(p50[0]),
                "make_profile_p99_ms": float(p99[1]), "make_profile_p50_ms": float(p50[1]),
                f"user_index_{label}_upsert_p99_ms": float(p99[2]),
                f"user_index_{label}_upsert_p50_ms": float(p50[2]),
                f"update_total_{label}_index_p99_ms": float(
                    np.percentile(ns.sum(axis=1), 99) / 1e6)}
    return out


def bulk_rebuild(features: ItemFeatures, users: int, events: int) -> dict[str, float]:
    """Random event log (rebuild cost does not depend on taste structure)."""
    rng = np.random.default_rng(2)
    log = {
        "user_ids": rng.integers(1, users + 1, events),
        "product_ids": features.vectors.product_ids[rng.integers(0, len(features.row_of), events)],
        "kinds": rng.choice(list(KIND_WEIGHTS), events),
        "timestamps": 1.7e9 + rng.random(events) * 90 * 86400,
    }
    batch, sums_s = timed(rebuild_profiles, features, **log)
    start = time.perf_counter()
    profiles = [make_profile(int(u), batch.state(i), features)
                for i, u in enumerate(tqdm(batch.user_ids, desc="profiles", mininterval=5))]
    objects_s = time.perf_counter() - start
    return {"users": len(profiles), "events": events, "rebuild_sums_s": sums_s,
            "rebuild_with_profile_objects_s": sums_s + objects_s}


def simulated_profiles(sim: Simulator, features: ItemFeatures, args: argparse.Namespace
                       ) -> dict[str, Any]:
    """Look-alike cold start vs popularity, and the personas trade-off, on simulated users."""
    users = sim.users(args.sim_users)
    log = sim.events(users, views_per_user=args.views)
    cold = {u.user_id for u in users[: args.cold_users]}
    is_cold = np.isin(log.user_ids, list(cold))
    warm_batch = rebuild_profiles(features, user_ids=log.user_ids[~is_cold],
                                  product_ids=log.product_ids[~is_cold],
                                  kinds=log.kinds[~is_cold], timestamps=log.timestamps[~is_cold])
    by_user = {u.user_id: u for u in users}
    warm_profiles = [make_profile(int(u), warm_batch.state(i), features,
                                  age=by_user[int(u)].age)
                     for i, u in enumerate(warm_batch.user_ids)]
    user_index = VectorIndex.build(warm_batch.user_ids, warm_batch.vectors, model_version="b")
    item_index = VectorIndex.build(features.vectors.product_ids, features.vectors.text,
                                   model_version="b")
    warm_clicks = log.product_ids[~is_cold & (log.kinds == "click")]
    popular = [int(p) for p, _ in Counter(warm_clicks.tolist()).most_common(2000)]
    gender_of = {p.product_id: p.gender for p in sim.catalog.products}
    click_count = Counter(warm_clicks.tolist())
    # The feed's candidates path, without and with the popularity blend.
    cosine = Retriever(item_index)
    blended = Retriever(item_index, popularity=click_count, pool=args.pool)
    clicks_by_user: dict[int, list[int]] = {}
    for u, p, k in zip(log.user_ids[~is_cold], log.product_ids[~is_cold], log.kinds[~is_cold],
                       strict=True):
        if k == "click":
            clicks_by_user.setdefault(int(u), []).append(int(p))
    hits: Counter[str] = Counter()
    evaluated = 0
    for user_id in sorted(cold):
        rows = np.flatnonzero(log.user_ids == user_id)  # time-ordered
        seen_rows, later = rows[: args.seed_events], rows[args.seed_events :]
        held = {int(p) for p, k in zip(log.product_ids[later], log.kinds[later], strict=True)
                if k == "click"}
        if len(seen_rows) == 0 or not held:
            continue
        evaluated += 1
        state = ProfileState.empty(features)
        for r in seen_rows:
            state.add(features, product_id=int(log.product_ids[r]), kind=str(log.kinds[r]),
                      t=float(log.timestamps[r]))
        seen = {int(p) for p in log.product_ids[seen_rows]}
        seed = make_profile(user_id, state, features).vector
        borrowed, neighbours = lookalike_vector(user_index, seed, k=args.lookalikes)
        both = np.stack([seed, borrowed])
        seed_only, lookalike = cosine.candidates(both, 10, exclude=[seen, seen])
        seed_blend, lookalike_blend = blended.candidates(both, 10, exclude=[seen, seen])
        neighbour_clicks: Counter[int] = Counter()
        for n in neighbours:
            neighbour_clicks.update(clicks_by_user.get(n, []))
        ranked = {
            "popularity": [p for p in popular if p not in seen][:10],
            "popularity_same_gender": [
                p for p in popular if p not in seen
                and gender_of[p] in (by_user[user_id].gender, "Unisex")][:10],
            "seed_only": seed_only,
            "lookalike": lookalike,
            "seed_only_popularity_rerank": seed_blend,
            "lookalike_popularity_rerank": lookalike_blend,
            # The neighbours' own clicks, most common first (ties: global popularity).
            "lookalike_neighbour_clicks": [p for p, _ in sorted(
                neighbour_clicks.items(), key=lambda pc: (-pc[1], -click_count.get(pc[0], 0)))
                if p not in seen][:10],
        }
        for name, top in ranked.items():
            hits[name] += bool(held & set(top))
    cold_start = {f"hit_rate_at_10_{k}": v / evaluated for k, v in hits.items()}
    cold_start |= {"cold_users_evaluated": evaluated, "seed_events": args.seed_events,
                   "warm_users": len(warm_profiles), "lookalikes": args.lookalikes}
    return {"cold_start": cold_start, "personas": personas_tradeoff(
        sim, warm_profiles, by_user, item_index, args)}


def personas_tradeoff(sim: Simulator, profiles: list[Any], by_user: dict[int, Any],
                      item_index: VectorIndex, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per K: generations saved on a feed of top-``feed`` candidates, and what it costs."""
    vectors = normalize(np.stack([p.vector for p in profiles]))
    feeds = item_index.search(vectors, args.feed)[1]
    individual = {p.user_id: p.controls for p in profiles}
    sample = [(by_user[p.user_id], int(feeds[i][0])) for i, p in enumerate(profiles)]
    lift_individual = sim.true_lift(sample, individual)
    lift_true = sim.true_lift(sample, {u.user_id: sim.true_controls(u) for u, _ in sample})
    out = []
    for k in args.persona_k:
        personas, fit_s = timed(Personas.fit, profiles, k=k, model_version="b")
        assigned = personas.assign(vectors)
        per_user = len({(int(p), i) for i, f in enumerate(feeds) for p in f})
        per_persona = len({(int(p), int(assigned[i])) for i, f in enumerate(feeds) for p in f})
        controls = {p.user_id: personas.personas[int(a)].controls
                    for p, a in zip(profiles, assigned, strict=True)}
        lift = sim.true_lift(sample, controls)
        out.append({
            **tradeoff(personas, profiles), "fit_s": fit_s,
            "feed_generations_per_user": per_user, "feed_generations_per_persona": per_persona,
            "feed_generation_saving": 1 - per_persona / per_user,
            "true_ctr_lift_persona_controls": lift["absolute"],
            "true_ctr_lift_individual_controls": lift_individual["absolute"],
            "true_ctr_lift_true_controls": lift_true["absolute"],
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--corpus", type=int, default=500_000)
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--update-events", type=int, default=20_000)
    parser.add_argument("--rebuild-users", type=int, default=100_000)
    parser.add_argument("--rebuild-events", type=int, default=1_000_000)
    parser.add_argument("--sim-users", type=int, default=6000)
    parser.add_argument("--cold-users", type=int, default=1000)
    parser.add_argument("--views", type=float, default=12.0)
    parser.add_argument("--seed-events", type=int, default=2)
    parser.add_argument("--lookalikes", type=int, default=20)
    parser.add_argument("--pool", type=int, default=200)
    parser.add_argument("--feed", type=int, default=20)
    parser.add_argument("--persona-k", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    settings = get_settings()
    if not (settings.index_dir / "items").is_dir():
        raise SystemExit(
            f"no item vectors in {settings.index_dir / 'items'}: run `recgen index rebuild` or "
            "bench/feed_refresh_bench.py first (bench/run does), or set RECGEN_INDEX_DIR"
        )
    items = ItemVectors.load(settings.index_dir / "items")
    catalog = read_styles(settings.data_dir / "myntra" / "styles.csv")
    features = ItemFeatures(catalog.products, items)
    sim = Simulator(catalog.products, seed=0)
    results: dict[str, Any] = {}
    steps = ["simulated", "update", "rebuild", "agreement", "retrieval"]
    for step in tqdm(steps, desc="bench"):
        if step == "simulated":
            results |= simulated_profiles(sim, features, args)
            query_sim = Simulator(catalog.products, seed=1)  # users unseen by the rest
            queries = normalize(np.stack([make_profile(u.user_id, s, features).vector
                                          for u, s in _query_states(query_sim, features,
                                                                    args.queries)]))
        elif step == "update":
            results["profile_update"] = profile_update(features, args.update_events,
                                                     args.rebuild_users)
        elif step == "rebuild":
            results["rebuild"] = bulk_rebuild(features, args.rebuild_users, args.rebuild_events)
        elif step == "agreement":
            results["small_corpus_agreement"] = small_agreement(items, queries)
        else:
            results["retrieval"] = retrieval(items, queries, args)
    results["headline"] = {
        "retrieval_recall_at_10": results["retrieval"]["retrieval_recall_at_10"],
        "retrieval_speedup": results["retrieval"]["retrieval_speedup"],
        "profile_update_p99_ms": results["profile_update"]["profile_update_p99_ms"],
        "profile_rebuild_s_100k_users_1m_events": results["rebuild"]["rebuild_sums_s"],
        **{k: v for k, v in results["cold_start"].items() if k.startswith("hit_rate")},
    }
    results["settings"] = {**vars(args), "out": str(args.out), "item_vectors": items.model_version,
                           "items": len(items.product_ids)}
    results["machine"] = {"platform": platform.platform(), "processor": platform.processor(),
                          "faiss": faiss.__version__, "numpy": np.__version__}
    results["git_commit"] = git_commit()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float))
    print("retrieval bench: " + ", ".join(f"{k}={v:.4g}" for k, v in results["headline"].items()))


def _query_states(sim: Simulator, features: ItemFeatures, count: int) -> list[Any]:
    """Profiles of fresh simulated users: the queries a feed refresh sends."""
    users = sim.users(count)
    log = sim.events(users, views_per_user=12)
    batch = rebuild_profiles(features, user_ids=log.user_ids, product_ids=log.product_ids,
                             kinds=log.kinds, timestamps=log.timestamps)
    by_id = {u.user_id: u for u in users}
    return [(by_id[int(u)], batch.state(i)) for i, u in enumerate(batch.user_ids)]


if __name__ == "__main__":
    main()
