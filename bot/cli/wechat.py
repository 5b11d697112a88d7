"""`grassroots wechat ...`: the Official Account's menu and its branches' join QR codes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.app import App
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.config import Config
from bot.texts import Texts, texts_for

if TYPE_CHECKING:
    from bot.channels.wechat import WechatApi


@main.group()
def wechat() -> None:
    """The WeChat Official Account: menu and join QR codes."""


def _api(config: Config, texts: Texts) -> WechatApi:
    from bot.channels.wechat import WechatApi

    if not config.wechat.enabled or not config.wechat_token or not config.wechat_app_secret:
        raise click.UsageError(texts.get("cli.wechat.needs_config"))
    return WechatApi(config.wechat, config.wechat_app_secret)


def qr_png(content: str) -> bytes:
    """`content` (the URL the platform encodes for a parameter QR code) as a PNG, drawn
    here: WeChat's image host (showqrcode) need not be reachable from the server."""
    import io

    import qrcode
    from qrcode.image.pure import PyPNGImage

    out = io.BytesIO()
    qrcode.make(content, image_factory=PyPNGImage, box_size=10, border=4).save(out)
    return out.getvalue()


@wechat.command("qrcode")
@click.option("--org", "code", required=True, help="The organisation's code, e.g. HX0101.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the PNG (default: <CODE>.png).",
)
@click.pass_context
def wechat_qrcode(ctx: click.Context, code: str, out: Path | None) -> None:
    """A permanent parameter QR code: scanning it follows the account and joins the branch."""
    from bot.channels.wechat import ApiError

    config, texts = config_of(ctx), texts_of(ctx)
    api = _api(config, texts)
    code = code.strip().upper()
    target = out or Path(f"{code}.png")

    async def make(app: App) -> str:
        org = await app.repos.orgs.by_code(code)
        if org is None:
            raise click.UsageError(texts.get("cli.wechat.no_org", code=code))
        try:
            result = await api.create_qrcode(code)
        except ApiError as error:
            raise click.ClickException(texts.get("cli.wechat.api_error", error=error)) from None
        finally:
            await api.close()
        target.write_bytes(qr_png(str(result["url"])))
        return org.name

    name = run(with_app(config, make))
    click.echo(texts.get("cli.wechat.qrcode_saved", name=name, code=code, path=target))


@wechat.command("menu")
@click.pass_context
def wechat_menu(ctx: click.Context) -> None:
    """Set the three-button menu (汇报 / 评议 / 我的); a click sends the same keyword."""
    from bot.channels.wechat import MENU_KEYWORDS, ApiError, menu_buttons

    config, texts = config_of(ctx), texts_of(ctx)
    api = _api(config, texts)
    # The buttons speak the deployment's language, whatever --lang the operator reads.
    language = texts_for(config.bot.language)
    labels = {key: language.get(f"wechat.menu.{key}") for key in MENU_KEYWORDS}

    async def set_menu() -> None:
        try:
            await api.create_menu(menu_buttons(labels))
        except ApiError as error:
            raise click.ClickException(texts.get("cli.wechat.api_error", error=error)) from None
        finally:
            await api.close()

    run(set_menu())
    click.echo(texts.get("cli.wechat.menu_set", buttons=" / ".join(labels.values())))
