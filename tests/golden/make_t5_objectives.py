"""Write tests/golden/t5_objectives.json from the reference `t5.data.preprocessors` (t5 0.9.4).

    pip install --no-deps t5==0.9.4 gin-config==0.5.0 babel==2.18.0   # t5's own deps would replace our seqio
    python tests/golden/make_t5_objectives.py

Per objective case of tests/test_objectives_t5_golden.py: the number of examples T5 yields over the test's
documents under its map seed, their SHA-256 and the first example; plus the SHA-256 of T5's noise masks.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests import test_objectives_t5_golden as cases  # noqa: E402


def main() -> None:
    ref = cases.load_reference()
    if ref is None:
        raise SystemExit("t5 is not importable: pip install --no-deps t5==0.9.4 gin-config==0.5.0 babel==2.18.0")
    masks = cases.mask_cases(ref)
    out = {
        "t5_version": importlib.metadata.version("t5"),
        "seqio_version": importlib.metadata.version("seqio"),
        "tensorflow_version": importlib.metadata.version("tensorflow"),
        "map_seed": cases.SEED,
        "sequence_length": cases.LENGTHS,
        "objectives": {name: cases.summary(cases.run_pipeline(fn)) for name, fn in
                       sorted(cases.reference_cases(ref).items())},
        "masks_sha256": cases.digest(masks),
        "mask_example": masks["random_spans/31/0.15/3.0"],
    }
    cases.GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {cases.GOLDEN} ({cases.GOLDEN.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
