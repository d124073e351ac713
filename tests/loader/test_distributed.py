"""Real torch.distributed (gloo, two processes): ranks from the process group, elastic resume 1 -> 2 ranks."""

import json
import subprocess
import sys
import textwrap

from curator.loader.dataset import MixtureLoader
from tests.loader.conftest import mixture_file

WORKER = textwrap.dedent(
    """
    import json, sys
    import torch.distributed as dist
    from curator.loader.dataset import MixtureLoader

    mixture, state_file, init_file, rank, out = sys.argv[1:6]
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=int(rank), world_size=2)
    loader = MixtureLoader(mixture, num_workers=1, backend="thread", prefetch=1)  # rank and world from gloo
    loader.load_state_dict(json.load(open(state_file)))
    ids = []
    for batch in loader:
        ids.append(batch["sample_id"].tolist())
        if len(ids) == 6:
            break
    counts = [None, None]
    dist.all_gather_object(counts, len(ids))  # every rank got the same number of batches
    json.dump({"rank": dist.get_rank(), "ids": ids, "counts": counts}, open(out, "w"))
    dist.destroy_process_group()
    """
)


def test_two_gloo_ranks_resume_a_one_rank_state(tmp_path, store):
    mixture = mixture_file(tmp_path, store)
    single = []
    one = MixtureLoader(mixture)
    for batch in one:
        single.append(batch["sample_id"].tolist())
        if len(single) == 4:
            state = one.state_dict()
        if len(single) == 10:
            break
    (tmp_path / "state.json").write_text(json.dumps(state))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(mixture), str(tmp_path / "state.json"), str(tmp_path / "init"),
             str(r), str(tmp_path / f"rank{r}.json")],
            stderr=subprocess.PIPE, text=True,
        )
        for r in range(2)
    ]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["rank"] for r in results] == [0, 1] and results[0]["counts"] == [6, 6]
    merged = [a + b for a, b in zip(results[0]["ids"], results[1]["ids"], strict=True)]
    assert merged == single[4:10]
