"""Helpers for the golden flow case (../shared/golden/animateanymesh/flow_case.npz)."""
import json

import numpy as np
import torch

# The float32 time-embedding frequencies of the platform that recorded the golden
# files. Our float32 exp can differ from that platform's by one ulp (here entries 3
# and 11), which moves float64 results by ~5e-9; with this table the port matches
# to ~1e-14, which checks everything else at full precision.
RECORDED_FREQUENCIES = [
    1.0, 0.7498942017555237, 0.5623413324356079, 0.4216964840888977, 0.3162277638912201, 0.2371373474597931,
    0.17782793939113617, 0.1333521455526352, 0.09999999403953552, 0.07498941570520401, 0.056234125047922134,
    0.04216965287923813, 0.03162277489900589, 0.02371373400092125, 0.017782794311642647, 0.013335213996469975,
    0.009999999776482582, 0.007498940918594599, 0.0056234123185276985, 0.004216963890939951,
    0.0031622766982764006, 0.0023713738191872835, 0.0017782794311642647, 0.0013335214462131262,
    0.0009999999310821295, 0.0007498940685763955, 0.0005623411852866411, 0.0004216963716316968,
    0.00031622781534679234, 0.00023713726841378957, 0.00017782794020604342, 0.00013335207768250257,
]


def recorded_frequencies(half, max_period=10000.0, device=None):
    assert half == len(RECORDED_FREQUENCIES) and max_period == 10000.0
    return torch.tensor(RECORDED_FREQUENCIES, dtype=torch.float32, device=device)


def load_case(shared):
    data = np.load(shared("golden", "animateanymesh", "flow_case.npz"))
    return {k: torch.from_numpy(np.asarray(data[k])) for k in data.files}


def load_model(shared, dtype=torch.float64):
    from meshflow.models.mmdit import load_original_mmdit

    state = torch.load(str(shared("golden", "animateanymesh", "official_rf_state_dict.pt")), weights_only=True)
    rf_config = json.loads(shared("golden", "animateanymesh", "training_config.json").read_text())["rf_config"]
    return load_original_mmdit(state, rf_config).to(dtype).eval()


def close(a, b, rtol, atol=None):
    """max |a - b| <= atol + rtol |b| elementwise (atol defaults to rtol times b's scale)."""
    b = b.to(a.dtype)
    atol = rtol * b.abs().mean().item() if atol is None else atol
    err = (a - b).abs() - rtol * b.abs()
    return err.max().item() <= atol, (a - b).abs().max().item()
