#!/usr/bin/env python3
"""PyTorch peer of bench/cuda-bench.ts: the same CEM plan on the same GPU with
the same weights, so the CUDA backend is measured against what a user would
otherwise run.

Reads a folder written by cuda-bench.ts:
  config.json        the checkpoint config (src/model/config.ts: the exact math)
  model.safetensors  the weights (read here with a small reader: no extra packages)
  plan.json          CEM sizes, energy weights, bounds, z0 and goal

Implements the predictor (mlp or DINO-WM style frame-causal transformer) and
the rollout energy of src/addon/types.ts in plain PyTorch, and CEM as
src/planning/cem.ts does it (include the mean as sample 0, clip to the box,
top-k elites, momentum on mean and std, variance floor). Matmuls run under
bf16 autocast (as the CUDA backend's tensor-core GEMMs); --dtype fp32 turns
that off.

Modes:
  eager    plain PyTorch
  compile  torch.compile(rollout, mode='reduce-overhead') (CUDA graphs)

Prints one JSON object on stdout:
  {"mode", "dtype", "ms_per_plan", "ms_min", "plans", "best_energy", "device", "torch"}

Usage (on a GPU machine, from the repository root):
  python3 bench/torch_peer.py --dir /tmp/jepa-cuda-bench/dino-wm --mode eager
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def read_safetensors(path, torch):
    """Every tensor of a safetensors file as float32 on the CPU."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor '{name}' has dtype {meta['dtype']}; expected one of {sorted(DTYPES)}")
        start, end = meta["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=getattr(torch, dtype))
        out[name] = t.reshape(meta["shape"]).float()
    return out


def build_predictor(cfg, w, torch, device):
    """A callable (window latents [N, F, T, dim], window actions [N, F, A]) -> next latent [N, T*dim]."""
    F = torch.nn.functional
    acts = {"gelu": F.gelu, "relu": F.relu, "tanh": torch.tanh, "silu": F.silu}
    dev = {k: v.to(device) for k, v in w.items()}
    pred = cfg["predictor"]
    dim = cfg["latent"]["dim"]
    T = cfg["latent"]["tokens"]

    if pred["kind"] == "mlp":
        act = acts[pred.get("activation", "gelu")]
        hidden = pred["hiddenDims"]
        layer_norm = pred.get("layerNorm", False)
        residual = pred.get("residual", True)

        def mlp(z, a):
            x = torch.cat([z[:, -1, 0, :], a[:, -1, :]], dim=1)
            for i, h in enumerate(hidden):
                x = F.linear(x, dev[f"predictor.layers.{i}.weight"], dev[f"predictor.layers.{i}.bias"])
                if layer_norm:
                    x = F.layer_norm(x, (h,), dev[f"predictor.norms.{i}.weight"], dev[f"predictor.norms.{i}.bias"], 1e-5)
                x = act(x)
            L = len(hidden)
            out = F.linear(x, dev[f"predictor.layers.{L}.weight"], dev[f"predictor.layers.{L}.bias"])
            return out + z[:, -1, 0, :] if residual else out

        return mlp

    heads = pred["numHeads"]
    eps = pred.get("eps", 1e-6)
    concat = pred.get("actionConditioning", "concat") == "concat"
    width = dim + pred["actionEmbedDim"] if concat else dim
    hd = width // heads
    output_head = pred.get("outputHead", True)

    def transformer(z, a):
        N, Fw = z.shape[0], z.shape[1]
        e = F.linear(a, dev["predictor.action_embed.weight"], dev["predictor.action_embed.bias"])  # [N, Fw, E]
        e = e[:, :, None, :].expand(N, Fw, T, e.shape[-1])
        x = torch.cat([z, e], dim=-1) if concat else z + e
        x = x.reshape(N, Fw * T, width) + dev["predictor.pos_embed"][:, : Fw * T, :]
        frame = torch.arange(Fw * T, device=z.device) // T
        mask = frame[None, :] <= frame[:, None]  # query row sees key column of an earlier or equal frame
        for i in range(pred["depth"]):
            b = f"predictor.blocks.{i}"
            h = F.layer_norm(x, (width,), dev[f"{b}.norm1.weight"], dev[f"{b}.norm1.bias"], eps)
            qkv = F.linear(h, dev[f"{b}.attn.qkv.weight"], dev.get(f"{b}.attn.qkv.bias"))
            q, k, v = qkv.reshape(N, Fw * T, 3, heads, hd).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            att = att.transpose(1, 2).reshape(N, Fw * T, width)
            x = x + F.linear(att, dev[f"{b}.attn.proj.weight"], dev[f"{b}.attn.proj.bias"])
            h = F.layer_norm(x, (width,), dev[f"{b}.norm2.weight"], dev[f"{b}.norm2.bias"], eps)
            h = F.gelu(F.linear(h, dev[f"{b}.mlp.fc1.weight"], dev[f"{b}.mlp.fc1.bias"]))
            x = x + F.linear(h, dev[f"{b}.mlp.fc2.weight"], dev[f"{b}.mlp.fc2.bias"])
        last = x[:, (Fw - 1) * T :, :]
        last = F.layer_norm(last, (width,), dev["predictor.norm.weight"], dev["predictor.norm.bias"], eps)
        out = F.linear(last, dev["predictor.head.weight"], dev["predictor.head.bias"]) if output_head else last[..., :dim]
        return out.reshape(N, T * dim)

    return transformer


def make_rollout(cfg, plan, predictor, torch, device):
    """rollout(actions [N, H, A]) -> energies [N], the formula of src/addon/types.ts."""
    dim = cfg["latent"]["dim"]
    T = cfg["latent"]["tokens"]
    L = T * dim
    A = cfg["action"]["dim"]
    hist_len = cfg["predictor"].get("historyLength", 1) if cfg["predictor"]["kind"] == "transformer" else 1
    frames = plan["frames"]
    H = plan["horizon"]
    cost = plan["cost"]
    z0 = torch.tensor(plan["z0"], dtype=torch.float32, device=device).reshape(frames, T, dim)
    goal = torch.tensor(plan["goal"], dtype=torch.float32, device=device)
    hist = torch.zeros(max(frames - 1, 0), A, device=device)
    prev = torch.tensor(cost["previousAction"], device=device) if cost.get("previousAction") else None
    l2 = cost["metric"] == "l2"

    def dist(z):
        d = z - goal
        return (d * d).mean(dim=1) if l2 else d.abs().mean(dim=1)

    def rollout(actions):
        N = actions.shape[0]
        lat = [z0[f].expand(N, T, dim) for f in range(frames)]
        act = [hist[f].expand(N, A) for f in range(frames - 1)]
        energy = torch.zeros(N, device=device)
        for t in range(H):
            act.append(actions[:, t, :])
            Fw = min(hist_len, len(lat))
            z = torch.stack(lat[-Fw:], dim=1)
            a = torch.stack(act[-Fw:], dim=1)
            nxt = predictor(z, a).float()
            lat.append(nxt.reshape(N, T, dim))
            energy = energy + cost["runningWeight"] * dist(nxt)
            if t == H - 1:
                energy = energy + cost["terminalWeight"] * dist(nxt)
        energy = energy + cost["actionMagnitudeWeight"] * (actions * actions).mean(dim=2).sum(dim=1)
        if cost["actionRateWeight"] > 0:
            diffs = actions[:, 1:, :] - actions[:, :-1, :]
            rate = (diffs * diffs).mean(dim=2).sum(dim=1)
            if prev is not None:
                rate = rate + ((actions[:, 0, :] - prev) ** 2).mean(dim=1)
            energy = energy + cost["actionRateWeight"] * rate
        return energy

    return rollout


def cem(plan, rollout, torch, device, generator):
    """One CEM plan; returns (best actions [H, A], best energy)."""
    N, H, A, K = plan["samples"], plan["horizon"], plan["actionDim"], plan["elites"]
    low = torch.tensor(plan["low"], device=device)
    high = torch.tensor(plan["high"], device=device)
    mean = torch.zeros(H, A, device=device).clamp(low, high)
    std = torch.full((H, A), float(plan["initStd"]), device=device)
    best_e = math.inf
    best = mean.clone()
    for _ in range(plan["iterations"]):
        eps = torch.randn(N, H, A, device=device, generator=generator)
        samples = mean + std.clamp_min(plan["minStd"]) * eps
        samples[0] = mean
        samples = torch.maximum(torch.minimum(samples, high), low)
        energies = rollout(samples)
        vals, idx = torch.topk(energies, K, largest=False)
        elites = samples[idx]
        if vals[0].item() < best_e:  # one host sync per iteration, as a PyTorch planner needs for its stopping test
            best_e = vals[0].item()
            best = samples[idx[0]].clone()
        mu = elites.mean(dim=0)
        sd = elites.std(dim=0, unbiased=False)
        m, sm = plan["momentum"], plan["stdMomentum"]
        mean = m * mean + (1 - m) * mu
        std = sm * std + (1 - sm) * sd
    return best, best_e


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="folder written by bench/cuda-bench.ts")
    ap.add_argument("--mode", choices=["eager", "compile"], default="eager")
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--plans", type=int, default=10)
    args = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"error": f"PyTorch is not installed: {e}"}))
        return 2
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch.cuda.is_available() is False (no GPU or a CPU-only PyTorch)"}))
        return 2
    device = torch.device("cuda")
    with open(os.path.join(args.dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(args.dir, "plan.json")) as f:
        plan = json.load(f)
    weights = read_safetensors(os.path.join(args.dir, "model.safetensors"), torch)
    predictor = build_predictor(cfg, weights, torch, device)
    rollout = make_rollout(cfg, plan, predictor, torch, device)
    if args.mode == "compile":
        rollout = torch.compile(rollout, mode="reduce-overhead")
    generator = torch.Generator(device=device)
    generator.manual_seed(plan["seed"])
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.dtype == "bf16")
    times = []
    best_e = math.nan
    with torch.inference_mode(), autocast:
        for i in range(args.warmup + args.plans):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            _, best_e = cem(plan, rollout, torch, device, generator)
            torch.cuda.synchronize()
            if i >= args.warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    print(
        json.dumps(
            {
                "mode": args.mode,
                "dtype": args.dtype,
                "ms_per_plan": statistics.median(times),
                "ms_min": min(times),
                "plans": len(times),
                "best_energy": best_e,
                "device": torch.cuda.get_device_name(device),
                "torch": torch.__version__,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
