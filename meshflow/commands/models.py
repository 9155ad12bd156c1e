"""``meshflow models``: Hugging Face Hub models in the meshflow cache (pull, list, rm)."""
from __future__ import annotations

from huggingface_hub import constants as hf_constants

from . import SUMMARIES
from ..cache import CACHE_ENV
from ..models.remote import ModelId, cached_models, fetch_model, hub_cache, hub_downloads, remove_model

NAME = "models"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        NAME, help=SUMMARIES[NAME],
        description="Models from the Hugging Face Hub (`--model owner/name[@revision]`): a meshflow model is used "
                    "from the Hugging Face cache as it is, the original AnimateAnyMesh release is converted once "
                    f"into the meshflow cache (${CACHE_ENV}). HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE and HF_TOKEN "
                    "apply as in huggingface_hub.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pull = sub.add_parser("pull", help="download (and convert) a model now, for offline use later",
                          description="Looks the revision up on the Hub (even when a converted copy is cached), "
                                      "downloads only the files needed and converts an original release once.")
    pull.add_argument("id", metavar="ID", help="owner/name or owner/name@revision (branch, tag or commit)")
    pull.set_defaults(func=run_pull)
    ls = sub.add_parser("list", help="the converted copies in the meshflow cache and the Hugging Face downloads "
                                     "meshflow reads: commits, revisions and sizes")
    ls.set_defaults(func=run_list)
    rm = sub.add_parser("rm", help="remove a model's converted copy and its Hugging Face download")
    rm.add_argument("id", metavar="ID", help="owner/name (every revision) or owner/name@revision")
    rm.add_argument("--keep-download", action="store_true",
                    help="remove only the converted copy; keep the files in the Hugging Face cache")
    rm.set_defaults(func=run_rm)


def run(args) -> int:
    """Runs the chosen action (``pull``, ``list`` or ``rm``; argparse requires one)."""
    return {"pull": run_pull, "list": run_list, "rm": run_rm}[args.action](args)


def _mb(size: int) -> str:
    return f"{size / 2 ** 20:.1f} MB"


def run_pull(args) -> int:
    resolved = fetch_model(ModelId.parse(args.id), refresh=True)
    print(f"{args.id}: {resolved.describe()}")
    return 0


def run_list(args) -> int:
    converted, downloads = cached_models(), hub_downloads()
    if not converted and not downloads:
        print(f"no models cached in {hub_cache()} or {hf_constants.HF_HUB_CACHE} "
              "(`meshflow models pull owner/name` adds one)")
        return 0
    width = max(len(r.repo) for r in [*converted, *downloads])
    print(f"converted copies ({hub_cache()}):" if converted else f"no converted copies in {hub_cache()}")
    for r in converted:
        state = "" if r.complete else "  (half-written: converted again on next use)"
        print(f"  {r.repo:<{width}}  {r.commit[:12]}  {_mb(r.size):>10}  revisions: "
              f"{', '.join(r.revisions) or '-'}{state}")
    print(f"Hugging Face downloads ({hf_constants.HF_HUB_CACHE}):" if downloads else
          f"no Hugging Face downloads meshflow reads in {hf_constants.HF_HUB_CACHE}")
    for d in downloads:
        use = "used in place" if d.layout == "meshflow" else "original release"
        print(f"  {d.repo:<{width}}  {d.commit[:12]}  {_mb(d.size):>10}  revisions: "
              f"{', '.join(d.revisions) or '-'}  ({use})")
    total = sum(r.size for r in converted) + sum(d.size for d in downloads)
    print(f"{len(converted)} converted, {len(downloads)} downloaded, {_mb(total)} in all")
    return 0


def run_rm(args) -> int:
    model_id = ModelId.parse(args.id)
    removed = remove_model(model_id, download=not args.keep_download)
    if not removed:
        print(f"{args.id}: nothing cached")
        return 0
    for path in removed:
        print(f"removed {path}")
    return 0
