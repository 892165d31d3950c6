"""Find LoRA adapters by shipped name or path, check them, and load them into a pipeline.

``--lora star:0.8 --lora ink`` on the command line becomes ``parse_spec`` →
``resolve`` (a shipped name, a folder or a ``.safetensors`` file; checked to
really hold LoRA matrices before any model loads) → ``apply_loras``, which is
plain diffusers: ``pipe.load_lora_weights(path, adapter_name=...)`` then
``pipe.set_adapters(names, adapter_weights=weights)``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from recipes.toy.model import ASSETS

WEIGHT_NAME = "pytorch_lora_weights.safetensors"
SHIPPED: dict[str, Path] = {"star": ASSETS / "lora-star", "ink": ASSETS / "lora-ink",
                            "lcm": ASSETS / "lora-lcm"}  # lcm: with --scheduler lcm --guidance 1
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_LORA_KEY = re.compile(r"lora_(A|B|down|up)|lora\.(down|up)|\.alpha$")


class LoraError(ValueError):
    """A LoRA the user named cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class LoraSpec:
    """One requested adapter: where its weights are, the adapter name and its weight."""

    source: str          # local .safetensors file, or a Hub id
    adapter_name: str
    weight: float = 1.0


def parse_spec(text: str) -> tuple[str, float]:
    """Split ``NAME_OR_PATH[:WEIGHT]`` into the name and the weight (default 1.0).

    The weight must be a number from -4 to 4 (diffusers accepts any float; larger
    values only burn the image). A colon not followed by a number belongs to the path.
    """
    text = text.strip()
    name, sep, tail = text.rpartition(":")
    if not sep or not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)", tail.strip()):
        name, weight = text, 1.0
    else:
        weight = float(tail)
    if not name:
        raise LoraError(f"--lora {text!r}: give a shipped name ({', '.join(SHIPPED)}) or a path, "
                        "optionally with :WEIGHT, e.g. star:0.8")
    if not -4.0 <= weight <= 4.0:
        raise LoraError(f"--lora {text!r}: weight must be from -4 to 4, e.g. {name}:0.8")
    return name, weight


def check_lora_file(path: Path) -> Path:
    """Return ``path`` if it is a safetensors file with LoRA tensors; else raise ``LoraError``."""
    from safetensors import SafetensorError, safe_open

    if path.suffix != ".safetensors":
        raise LoraError(f"{path}: not a LoRA file: expected a .safetensors file such as "
                        f"{WEIGHT_NAME} (pickled .bin/.pt files are not loaded)")
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise LoraError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]})") \
            from None
    if not any(_LORA_KEY.search(k) for k in keys):
        raise LoraError(f"{path}: not a LoRA file: it holds no lora_A/lora_B (or lora_down/"
                        "lora_up) tensors; train one with make toy-lora or "
                        "python -m recipes.lora.train")
    return path


def resolve(name_or_path: str) -> str:
    """Turn a shipped name, folder, file or Hub id into what ``load_lora_weights`` reads.

    Shipped names are ``star`` and ``ink`` (``recipes/assets/lora-*``); a folder
    must contain ``pytorch_lora_weights.safetensors``; an ``org/name`` that is
    not a local path is returned as a Hub id. Anything else raises ``LoraError``.
    """
    text = str(name_or_path).strip()
    if text in SHIPPED:
        path = SHIPPED[text] / WEIGHT_NAME
        if not path.is_file():
            raise LoraError(f"shipped LoRA {text!r} is missing ({path}); rebuild it with "
                            "make toy-lora")
        return str(check_lora_file(path))
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / WEIGHT_NAME).is_file():
            raise LoraError(f"{path}: folder has no {WEIGHT_NAME}; point --lora at the "
                            ".safetensors file itself")
        return str(check_lora_file(path / WEIGHT_NAME))
    if path.is_file():
        return str(check_lora_file(path))
    if _HUB_ID.match(text) and not text.startswith((".", "/")):
        return text
    raise LoraError(f"unknown LoRA {text!r}: use a shipped name ({', '.join(SHIPPED)}), a folder "
                    f"with {WEIGHT_NAME}, a .safetensors file or a Hub id org/name")


def _adapter_name(text: str, taken: set[str]) -> str:
    base = text if text in SHIPPED else re.sub(r"\W+", "_", Path(text.rstrip("/")).stem) or "lora"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def resolve_specs(texts: list[str] | None) -> list[LoraSpec]:
    """Parse and resolve every ``--lora`` value before the model loads (``LoraError`` if bad)."""
    specs: list[LoraSpec] = []
    for text in texts or []:
        name, weight = parse_spec(text)
        specs.append(LoraSpec(resolve(name), _adapter_name(name, {s.adapter_name for s in specs}),
                              weight))
    return specs


class _DropUnetOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()  # CLIPTextModel for toy, BertModel for toy-zh
        return not (message.startswith("No LoRA keys associated to")
                    and "prefix='text_encoder'" in message)


class _DropAdapterMissingReport(logging.Filter):
    """transformers 5 reports every text-encoder LoRA tensor as MISSING after loading it.

    The tensors do arrive (tests/test_lora.py compares them with the file); the
    report is dropped only when every row it lists is a LoRA tensor marked MISSING.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "LOAD REPORT" not in message:
            return True
        rows = [ln for ln in message.splitlines() if "|" in ln and ".weight" in ln]
        return not rows or not all(".lora_" in ln and "MISSING" in ln for ln in rows)


def quiet_lora_warnings() -> None:
    """Drop three messages LoRA sessions get, and nothing else (idempotent).

    - diffusers' warning that a UNet-only LoRA has no text-encoder keys (the
      live adapter of chapter 06 trains the UNet only), with a link to file an issue,
      whatever the text encoder's class;
    - peft's ``Already found a `peft_config` attribute in the model`` warning,
      given for every second adapter loaded into one model: loading several
      named adapters is what ``set_adapters`` is for;
    - transformers' load report that lists a text-encoder adapter's own tensors
      as MISSING right after loading them (``_DropAdapterMissingReport``).
    """
    logger = logging.getLogger("diffusers.loaders.lora_base")
    if not any(isinstance(f, _DropUnetOnly) for f in logger.filters):
        logger.addFilter(_DropUnetOnly())
    peft_logger = logging.getLogger("transformers.integrations.peft")
    if not any(isinstance(f, _DropAdapterMissingReport) for f in peft_logger.filters):
        peft_logger.addFilter(_DropAdapterMissingReport())
    warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute",
                            category=UserWarning)


def apply_loras(pipe, specs: list[LoraSpec], fuse: bool = False):
    """Load ``specs`` into ``pipe`` as named adapters and activate them with their weights.

    With ``fuse=True`` the weighted adapters are merged into the base weights
    and the LoRA layers removed (``fuse_lora`` then ``unload_lora_weights``):
    same images up to float rounding, no per-step LoRA overhead, no way back.
    A file made for another model (different layer names or shapes) raises
    ``LoraError`` naming the adapter, instead of diffusers' long report.
    """
    quiet_lora_warnings()
    for spec in specs:
        _check_text_encoder_part(pipe, spec)
        try:
            pipe.load_lora_weights(spec.source, adapter_name=spec.adapter_name)
        except Exception as exc:  # noqa: BLE001  (diffusers/peft raise many types here)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LoraError(f"LoRA {spec.adapter_name!r} does not fit this model ({first[:200]})"
                            ) from None
    if specs:
        pipe.set_adapters([s.adapter_name for s in specs],
                          adapter_weights=[s.weight for s in specs])
        if fuse:
            pipe.fuse_lora(adapter_names=[s.adapter_name for s in specs])
            pipe.unload_lora_weights()
    return pipe


def _check_text_encoder_part(pipe, spec: LoraSpec) -> None:
    """Raise ``LoraError`` if the file adapts text-encoder layers this pipeline does not have.

    The shipped star adapter also trains a LoRA on the toy's CLIP text encoder;
    toy-zh reads prompts with a BERT encoder, whose layers have other names.
    diffusers would fail with an IndexError deep inside peft.
    """
    path = Path(spec.source)
    if not path.is_file() or getattr(pipe, "text_encoder", None) is None:
        return
    layers = {name.rsplit(".lora_", 1)[0] for name in split_lora(path).get("text_encoder", {})}
    have = {name for name, _ in pipe.text_encoder.named_modules()}
    missing = sorted(layers - have)
    if missing:
        raise LoraError(
            f"LoRA {spec.adapter_name!r} also adapts a text encoder this model does not have "
            f"({type(pipe.text_encoder).__name__} has no {missing[0]}); use it with the model "
            "it was trained for, or load only its UNet part: "
            "pipe.unet.load_lora_adapter(load_file(path), prefix='unet')")


GUIDANCE_FILE = "guidance.json"  # written next to the weights by python -m recipes.lora.guidance
DEFAULT_GUIDANCE = 7.5  # Stable Diffusion 1.5's habit; the CLI's scale when no adapter says more


def recommended_guidance(specs: list[LoraSpec]) -> tuple[float, Path] | None:
    """The smallest guidance scale the loaded adapters recommend, and the file that says so.

    An adapter recommends one when its folder holds ``guidance.json`` (written by
    ``python -m recipes.lora.guidance``, which measures the scales on validation
    prompts). Hub ids and bare files recommend nothing: ``None`` when none does.
    """
    found = []
    for spec in specs:
        path = Path(spec.source).parent / GUIDANCE_FILE
        if not Path(spec.source).is_file() or not path.is_file():
            continue
        try:
            value = float(json.loads(path.read_text(encoding="utf-8"))["recommended"])
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise LoraError(f"{path}: unreadable guidance file ({type(exc).__name__}); delete it "
                            "or rewrite it with python -m recipes.lora.guidance") from None
        if not 0 <= value <= 50:
            raise LoraError(f"{path}: recommended guidance {value:g} is outside 0-50; rewrite it "
                            "with python -m recipes.lora.guidance")
        found.append((value, path))
    return min(found) if found else None


def settle_guidance(args, specs: list[LoraSpec]) -> None:
    """Fill ``args.guidance`` when the user gave none: the adapters' recommendation, else 7.5.

    A recommendation that is used is announced on stderr, so the number that made
    the image is never hidden; ``--guidance`` always wins.
    """
    if args.guidance is not None:
        return
    rec = recommended_guidance(specs)
    args.guidance = DEFAULT_GUIDANCE if rec is None else rec[0]
    if rec is not None:
        print(f"note: guidance {rec[0]:g}, as {rec[1]} recommends for this adapter (measured on "
              f"validation prompts; {DEFAULT_GUIDANCE:g} without it); pass --guidance to choose",
              file=sys.stderr)


def add_lora_arg(parser) -> None:
    """Add the repeatable ``--lora NAME_OR_PATH[:WEIGHT]`` option to an argparse parser."""
    parser.add_argument(
        "--lora", action="append", default=None, metavar="NAME_OR_PATH[:WEIGHT]",
        help=f"LoRA adapter to load, repeatable: a shipped name ({', '.join(SHIPPED)}), a folder "
             f"with {WEIGHT_NAME}, a .safetensors file or a Hub id, optionally :WEIGHT "
             "(default weight 1.0; default: no LoRA), e.g. --lora star:0.8 --lora ink")


def split_lora(path: str | Path) -> dict[str, dict]:
    """Split a diffusers LoRA file by component: ``{"unet": {...}, "text_encoder": {...}}``.

    Keys keep their names without the component prefix; a component the file
    does not adapt is missing from the result.
    """
    from safetensors.torch import load_file

    parts: dict[str, dict] = {}
    for key, tensor in load_file(str(check_lora_file(Path(path)))).items():
        component, _, rest = key.partition(".")
        parts.setdefault(component, {})[rest] = tensor
    return parts


def hotswap_lora(pipe, path: str | Path, adapter_name: str) -> None:
    """Replace the weights of ``adapter_name`` by those in ``path`` without recompiling the UNet.

    ``pipe.load_lora_weights(..., hotswap=True)`` refuses files that also adapt
    the text encoder ("hotswapping is not supported for text encoders"), which
    the shipped star adapter does. The UNet (the compiled part) is hot-swapped
    in place with ``pipe.unet.load_lora_adapter(..., hotswap=True)``; the text
    encoder is not compiled, so its adapter is simply deleted and loaded again.
    Call ``pipe.enable_lora_hotswap(target_rank=...)`` before the first load.
    """
    from safetensors.torch import load_file

    state = load_file(str(check_lora_file(Path(path))))
    pipe.unet.load_lora_adapter(state, prefix="unet", adapter_name=adapter_name, hotswap=True)
    encoder = pipe.text_encoder
    if adapter_name in getattr(encoder, "peft_config", {}):
        encoder.delete_adapter(adapter_name)
    if any(k.startswith("text_encoder.") for k in state):
        pipe.load_lora_into_text_encoder(state, network_alphas=None, text_encoder=encoder,
                                         prefix="text_encoder", adapter_name=adapter_name,
                                         _pipeline=pipe)
