from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from recgen.cli import app
from recgen.models.text.eval import PERSONAS, recover_aspect, score_product
from tests.unit.models.text.conftest import HEELS, SHIRT

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,usage," \
         "productDisplayName,colorgroup\n"
ROWS = (
    "15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,Casual,Turtle Check Men Navy Blue Shirt,"
    "Blue\n7,Women,Footwear,Shoes,Heels,Black,Summer,Party,Catwalk Women Black Heels,Black\n"
    "8,Women,Footwear,Shoes,Heels,,Summer,Party,Broken Row,Black\n"
)
RATES = ("fidelity", "contradiction_rate", "gate_pass_rate", "usr", "distinct_2",
         "persona_accuracy")


def test_eval_cli_writes_the_metrics_json(tiny_dir: Path, tmp_path: Path) -> None:
    styles = tmp_path / "styles.csv"
    styles.write_text(HEADER + ROWS)
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", "text", "--styles", str(styles), "--json",
                                      str(out), "--model", str(tiny_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["products"] == 2 and report["descriptions"] == 2 * len(PERSONAS)
    for key in RATES:
        assert 0.0 <= report[key] <= 1.0, key
    assert report["perplexity"] > 1.0
    assert len(report["personas"]) == 5 and len({p["aspect"] for p in report["personas"]}) == 5


def test_scores_of_known_texts() -> None:
    bodies = [
        "This navy blue shirt is cut for a clean, tailored fit.",
        "This navy blue shirt is all about the fabric and its finish.",
        "A comfortable navy blue shirt that is easy to wear all day.",
        "This navy blue shirt is ready for the office and any occasion.",
        "This red shirt is a versatile staple.",  # contradicts the colour
    ]
    scores = score_product(SHIRT, [f"{SHIRT.title}\n{b}" for b in bodies])
    assert scores.fidelity == 4 and scores.contradictions == 1 and scores.passed == 4
    assert scores.persona_hits == 5 and scores.usr == 1.0
    assert recover_aspect("Nothing to see here.") is None
    assert score_product(HEELS, ["Catwalk Women Black Heels\nA pair of black heels."] * 5).usr \
        == 0.2
