"""A self-contained HTML report of a demo run: feeds (stock vs generated), A/B results, figures.

Images are embedded as data URIs and charts as inline SVG, so the file opens anywhere with no
server and no network.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from recgen.core.types import GateResult, Product


@dataclass(frozen=True, slots=True)
class FeedCard:
    product: Product
    stock_image: bytes | None  # the catalog photo (JPEG) or None when the product has none
    generated_text: str | None
    text_gate: GateResult | None
    generated_image: bytes | None  # PNG
    image_gate: GateResult | None
    persona_id: int | None


@dataclass(frozen=True, slots=True)
class UserSection:
    user_id: int
    arm: str | None
    profile: Mapping[str, object]
    cards: Sequence[FeedCard]


@dataclass(frozen=True, slots=True)
class ArmResult:
    name: str
    users: int
    exposures: int
    rate: float
    ci_low: float
    ci_high: float


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{margin-bottom:.2rem} .muted{color:#666} table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
.feed{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:8px;padding:.6rem}
.pair{display:flex;gap:.4rem} .pair figure{margin:0;text-align:center;font-size:.75rem}
.pair img{width:112px;height:112px;object-fit:contain;background:#fafafa;image-rendering:auto}
.gen{background:#f3f8ff;border-left:3px solid #4a7bd0;padding:.3rem .5rem;margin:.3rem 0}
.stock{font-size:.85rem} .fail{color:#b00020;font-size:.8rem}
.pass{color:#1b7a2b;font-size:.8rem} code{font-size:.8rem}
"""


def _img(data: bytes | None, mime: str, alt: str) -> str:
    if data is None:
        return f'<div class="muted" style="width:112px;height:112px">no {html.escape(alt)}</div>'
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{encoded}">'


def _gate(label: str, gate: GateResult | None) -> str:
    if gate is None:
        return f'<div class="muted">{label}: not generated</div>'
    if gate.passed:
        return f'<div class="pass">{label} gate: passed</div>'
    reasons = "; ".join(gate.reasons) or "rejected"
    return f'<div class="fail">{label} gate: rejected ({html.escape(reasons)}) - stock served</div>'


def _card(card: FeedCard) -> str:
    p = card.product
    text = card.generated_text if card.generated_text else "(none)"
    return f"""<div class="card">
<div class="pair"><figure>{_img(card.stock_image, "image/jpeg", "stock photo")}
<figcaption>stock</figcaption></figure>
<figure>{_img(card.generated_image, "image/png", "generated image")}
<figcaption>generated</figcaption></figure></div>
<div class="stock"><b>Stock:</b> {html.escape(p.title)}</div>
<div class="gen"><b>Generated:</b> {html.escape(text)}</div>
{_gate("text", card.text_gate)}{_gate("image", card.image_gate)}
<div class="muted"><code>#{p.product_id} {html.escape(p.article_type)} /
{html.escape(p.base_colour)} / {html.escape(p.usage or "-")} · persona {card.persona_id}</code>
</div></div>"""


def _user(section: UserSection) -> str:
    profile = ", ".join(f"{k}: {html.escape(str(v))}" for k, v in section.profile.items())
    cards = "\n".join(_card(c) for c in section.cards)
    arm = f" · arm <b>{html.escape(section.arm)}</b>" if section.arm else ""
    return (
        f"<h3>User {section.user_id}{arm}</h3><p class='muted'>{profile}</p>"
        f"<div class='feed'>{cards}</div>"
    )


def _rate_chart(arms: Sequence[ArmResult], title: str) -> str:
    """Horizontal bars with 95% CI whiskers, one row per arm (inline SVG)."""
    width, row, left = 520, 34, 110
    top = max((a.ci_high for a in arms), default=0.0) * 1.15 or 1.0
    scale = (width - left - 20) / top
    rows = []
    for i, arm in enumerate(arms):
        y = 24 + i * row
        rows.append(
            f'<text x="4" y="{y + 14}" font-size="12">{html.escape(arm.name)}</text>'
            f'<rect x="{left}" y="{y}" width="{arm.rate * scale:.1f}" height="18" fill="#4a7bd0"/>'
            f'<line x1="{left + arm.ci_low * scale:.1f}" x2="{left + arm.ci_high * scale:.1f}" '
            f'y1="{y + 9}" y2="{y + 9}" stroke="#111" stroke-width="2"/>'
            f'<text x="{left + arm.ci_high * scale + 4:.1f}" y="{y + 14}" font-size="11">'
            f"{arm.rate:.4f}</text>"
        )
    height = 30 + len(arms) * row
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">'
        f'<text x="4" y="14" font-size="12" font-weight="bold">{html.escape(title)}</text>'
        + "".join(rows)
        + "</svg>"
    )


def _table(rows: Mapping[str, object]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f"<table>{body}</table>"


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_page(
    *,
    title: str,
    summary: Mapping[str, object],
    users: Sequence[UserSection],
    arms: Sequence[ArmResult],
    ab_figures: Mapping[str, object],
) -> str:
    """The whole report as one HTML string."""
    arm_rows = "".join(
        f"<tr><td>{html.escape(a.name)}</td><td>{a.users}</td><td>{a.exposures}</td>"
        f"<td>{a.rate:.4f} [{a.ci_low:.4f}, {a.ci_high:.4f}]</td></tr>"
        for a in arms
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="muted">Generated descriptions and images next to the stock content they replace.
Content that failed a gate is shown with the reason; the stock content is what is served.</p>
<h2>Summary</h2>{_table(summary)}
<h2>A/B test: generated vs stock content</h2>
{_rate_chart(arms, "click-through rate per arm (95% CI)")}
<table><tr><th>arm</th><th>users</th><th>exposures</th><th>CTR [95% CI]</th></tr>{arm_rows}
</table><p></p>{_table(ab_figures)}
<h2>Feeds</h2>{"".join(_user(u) for u in users)}
</body></html>"""
