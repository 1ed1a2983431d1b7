"""The Slack stand-in through slack_sdk's client, and SignedSlack through Bolt's own checks."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.applications import Starlette
from starlette.routing import Route

from bot.runtime.signed import SignedSlack, find_button, sign
from bot.runtime.standin import SlackStandIn
from bot.slack.cards import transfer_card
from bot.slack.ids import ActionKind, CallbackId, parse_button
from bot.slack.requests import action_inputs_modal, modal_errors, modal_values
from providers.base import Action, ActionSpec, Transfer
from providers.simulators.base import LoopbackServer
from tests.slack.test_blocks import RESET, hostway_blocked

TOKEN = "xoxb-test-token-0123"
SIGNING_SECRET = "signing-secret-for-tests-0123456789"
CHANNEL = "C0ALERTS"


def blocked() -> Transfer:
    """The Hostway seed's transfer stuck on code 32, its status cut to the first sentence;
    it can be cancelled as well as retried."""
    return hostway_blocked(
        raw_text="Canceled - Invalid EPP/authorization key",
        actions=(RESET, ActionSpec(Action.CANCEL, "cancel", destructive=True)),
    )


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn(
        token=TOKEN,
        user_groups={"S0APPROVERS": ["U0BOB", "U0CAROL"]},
        users={"U0ALICE": {"name": "alice", "real_name": "Alice Operator"}},
        channels={CHANNEL: "transfer-alerts"},
    )
    async with stand_in.serve():
        yield stand_in


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=f"{standin.base_url}/api/")


# -- answering like Slack, through the real SDK ---------------------------------------------------
async def test_post_and_update_show_in_the_channel_with_threads(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    text, blocks = transfer_card(blocked(), short_id="t-4k7q")
    posted = await client.chat_postMessage(channel=CHANNEL, text=text, blocks=blocks)
    assert posted["ok"] and posted["channel"] == CHANNEL
    assert posted["message"]["blocks"] == blocks
    reply = await client.chat_postMessage(channel=CHANNEL, thread_ts=posted["ts"], text="first")
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="test.com completed")
    assert reply["ts"] > posted["ts"]

    [parent] = standin.channel(CHANNEL)
    assert parent.ts == posted["ts"] and parent.edited
    assert parent.text == "test.com completed" and parent.blocks == blocks  # blocks kept
    assert [r.text for r in parent.replies] == ["first"]

    call = standin.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == blocks and call.args["channel"] == CHANNEL
    assert call.auth == f"Bearer {TOKEN}"
    assert TOKEN not in repr(call)


async def test_a_reply_to_a_missing_thread_or_update_of_a_missing_message_fails(
    client: AsyncWebClient,
) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=CHANNEL, thread_ts="1.000001", text="x")
    assert caught.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as caught:
        await client.chat_update(channel=CHANNEL, ts="1.000001", text="x")
    assert caught.value.response["error"] == "message_not_found"


async def test_wrong_or_missing_token(standin: SlackStandIn) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=f"{standin.base_url}/api/")
    with pytest.raises(SlackApiError) as caught:
        await wrong.auth_test()
    assert caught.value.response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=f"{standin.base_url}/api/")
    with pytest.raises(SlackApiError) as caught:
        await anonymous.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response["error"] == "not_authed"
    assert standin.channel(CHANNEL) == []


async def test_switchable_ok_false(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.fail("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response["error"] == "channel_not_found"
    assert (await client.chat_postMessage(channel=CHANNEL, text="x"))["ok"]  # used up
    assert [c.error for c in standin.calls_to("chat.postMessage")] == ["channel_not_found", None]


async def test_429_with_retry_after_reaches_the_sdk(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    standin.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.response["error"] == "ratelimited"
    assert standin.channel(CHANNEL) == []


async def test_the_sdks_retry_handler_reads_retry_after_and_retries(
    standin: SlackStandIn,
) -> None:
    class RecordingRateLimitHandler(AsyncRetryHandler):
        """Slack's rate-limit retry, minus the sleep: records the wait it was told."""

        waits: list[int] = []

        async def _can_retry_async(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> bool:
            return response is not None and response.status_code == 429

        async def prepare_for_next_attempt_async(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> None:
            headers = {k.lower(): v for k, v in response.headers.items()}
            self.waits.append(int(headers["retry-after"][0]))
            state.next_attempt_requested = True
            state.increment_current_attempt()

    handler = RecordingRateLimitHandler(max_retry_count=1)
    client = AsyncWebClient(
        token=TOKEN, base_url=f"{standin.base_url}/api/", retry_handlers=[handler]
    )
    standin.rate_limit("chat.postMessage", retry_after=3)
    assert (await client.chat_postMessage(channel=CHANNEL, text="hello"))["ok"]
    assert handler.waits == [3]
    assert [m.text for m in standin.channel(CHANNEL)] == ["hello"]


async def test_unknown_method(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.api_call("chat.frobnicate", json={"x": 1})
    assert caught.value.response["error"] == "unknown_method"


async def test_messages_slack_would_refuse_are_refused(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=CHANNEL, text="x", blocks=[{"type": "divider"}] * 51)
    assert caught.value.response["error"] == "invalid_blocks"
    with pytest.raises(SlackApiError) as caught:
        await client.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert caught.value.response["error"] == "no_text"


async def test_views_groups_users_and_channels(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Retry transfer"},
        "callback_id": "x",
        "blocks": [],
    }
    opened = await client.views_open(trigger_id="1.2.abc", view=modal)
    view_id = opened["view"]["id"]
    updated = await client.views_update(view_id=view_id, view={**modal, "callback_id": "y"})
    assert updated["view"]["callback_id"] == "y" and standin.views[view_id]["callback_id"] == "y"
    with pytest.raises(SlackApiError) as caught:
        await client.views_update(view_id="V404", view=modal)
    assert caught.value.response["error"] == "not_found"

    await client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": []})
    assert standin.home["U0ALICE"]["type"] == "home"

    group = await client.usergroups_users_list(usergroup="S0APPROVERS")
    assert group["users"] == ["U0BOB", "U0CAROL"]
    with pytest.raises(SlackApiError) as caught:
        await client.usergroups_users_list(usergroup="S0NOPE")
    assert caught.value.response["error"] == "no_such_subteam"

    alice = await client.users_info(user="U0ALICE")  # sent as a GET with query parameters
    assert alice["user"]["real_name"] == "Alice Operator"
    info = await client.conversations_info(channel=CHANNEL)
    assert info["channel"]["name"] == "transfer-alerts"
    ephemeral = await client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="psst")
    assert ephemeral["message_ts"]
    assert [(e.user, e.text) for e in standin.ephemerals] == [("U0ALICE", "psst")]
    assert standin.channel(CHANNEL) == []  # ephemerals are not in the channel


async def test_form_encoded_calls_are_parsed_like_slack(standin: SlackStandIn) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{standin.base_url}/api/chat.postMessage",
            data={"token": TOKEN, "channel": CHANNEL, "blocks": json.dumps(blocks)},
        )
    assert reply.json()["ok"]
    assert standin.channel(CHANNEL)[0].blocks == blocks


async def test_response_urls_are_recorded_and_shown(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="original")
    ephemeral_url = standin.response_url(channel=CHANNEL, user="U0ALICE")
    replace_url = standin.response_url(channel=CHANNEL, user="U0ALICE", message_ts=posted["ts"])
    await AsyncWebhookClient(ephemeral_url).send(text="only you see this")
    await AsyncWebhookClient(replace_url).send(text="replaced", replace_original=True)
    await AsyncWebhookClient(ephemeral_url).send(text="everyone sees", response_type="in_channel")
    assert [body["text"] for _, body in standin.responses] == [
        "only you see this",
        "replaced",
        "everyone sees",
    ]
    assert [e.text for e in standin.ephemerals] == ["only you see this"]
    assert [m.text for m in standin.channel(CHANNEL)] == ["replaced", "everyone sees"]


async def test_render_prints_what_the_channel_shows(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    printed: list[str] = []
    standin.echo = printed.append
    text, blocks = transfer_card(blocked(), short_id="t-4k7q")
    posted = await client.chat_postMessage(channel=CHANNEL, text=text, blocks=blocks)
    await client.chat_postMessage(
        channel=CHANNEL, thread_ts=posted["ts"], text="<@U0ALICE> asks to retry &lt;test.com&gt;"
    )
    screen = standin.render_channel(CHANNEL)
    assert "#transfer-alerts" in screen
    assert "[ Retry (reset) ] [ Cancel ] [ Refresh ]" in screen
    assert "⚠️ blocked · Hostway 32 “Canceled - Invalid EPP/authorization key”" in screen
    assert "↳ in thread" in screen and "@alice asks to retry <test.com>" in screen
    assert "{" not in screen and '"type"' not in screen  # readable text, not JSON
    assert len(printed) == 2 and printed[0] == standin.render(standin.channel(CHANNEL)[0])


# -- SignedSlack ----------------------------------------------------------------------------------
def test_signed_command_verifies_with_the_sdks_verifier() -> None:
    signed = SignedSlack(url="http://127.0.0.1:9/slack/events", signing_secret=SIGNING_SECRET)
    body = signed.command_body("status test.com", user="U0ALICE", channel=CHANNEL)
    ts = int(time.time())
    verifier = SignatureVerifier(SIGNING_SECRET)
    headers = {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
    }
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b"x", headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    stale = {
        "X-Slack-Request-Timestamp": str(ts - 301),
        "X-Slack-Signature": sign(SIGNING_SECRET, ts - 301, body),
    }
    assert not verifier.is_valid_request(body, stale)
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert form["command"] == "/transfer" and form["text"] == "status test.com"
    assert form["user_id"] == "U0ALICE" and form["channel_id"] == CHANNEL
    assert form["trigger_id"] and form["response_url"].startswith("http")


async def test_signed_requests_carry_slacks_headers() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    signed = SignedSlack(
        url="http://bot.test/slack/events", signing_secret=SIGNING_SECRET, client=http
    )
    await signed.command("help", user="U0ALICE", retry_num=1)
    await signed.command("help", user="U0ALICE", timestamp=1, signature="v0=forged")
    first, second = seen
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.is_valid_request(first.content, dict(first.headers))
    assert first.headers["X-Slack-Retry-Num"] == "1"
    assert first.headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert second.headers["X-Slack-Signature"] == "v0=forged"
    assert not verifier.is_valid_request(second.content, dict(second.headers))
    await http.aclose()


# -- the whole loop: a real Bolt app, signed requests in, Web API calls out ------------------------
def tiny_bolt_app(web_api: str) -> AsyncApp:
    """A minimal Bolt app shaped like ours: ack, then answer through the Web API."""
    app = AsyncApp(
        client=AsyncWebClient(token=TOKEN, base_url=web_api),
        signing_secret=SIGNING_SECRET,
        process_before_response=True,
    )

    @app.command("/transfer")
    async def command(ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        await ack()
        text, blocks = transfer_card(blocked(), short_id="t-4k7q")
        await client.chat_postMessage(channel=body["channel_id"], text=text, blocks=blocks)
        await respond(text=f"you asked: {body['text']}")

    @app.action(ActionKind.ACT.pattern)
    async def act(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        action = body["actions"][0]
        target = parse_button(action["action_id"], action["value"])
        await client.chat_postMessage(
            channel=body["channel"]["id"],
            thread_ts=body["container"]["message_ts"],
            text=f"<@{body['user']['id']}> clicked {target}",
        )

    @app.view(CallbackId.ACTION_INPUTS.value)
    async def submitted(ack: Any, view: dict[str, Any]) -> None:
        values = modal_values(view["state"])
        problems = blocked().actions[0].validate(values)
        await ack(**modal_errors(problems)) if problems else await ack()

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: Any) -> None:
        await client.views_publish(user_id=event["user"], view={"type": "home", "blocks": []})

    return app


@pytest.fixture
async def bot_url(standin: SlackStandIn) -> AsyncIterator[str]:
    handler = AsyncSlackRequestHandler(tiny_bolt_app(f"{standin.base_url}/api/"))

    async def events(request: Any) -> Any:
        return await handler.handle(request)

    web = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
    async with LoopbackServer(web) as url:
        yield f"{url}/slack/events"


async def test_bolt_accepts_signed_commands_clicks_submissions_and_events(
    standin: SlackStandIn, bot_url: str
) -> None:
    slack = SignedSlack(url=bot_url, signing_secret=SIGNING_SECRET, standin=standin)
    reply = await slack.command("status test.com", user="U0ALICE", channel=CHANNEL)
    assert reply.status_code == 200
    [card] = standin.channel(CHANNEL)
    assert [b for _, b in standin.responses] == [{"text": "you asked: status test.com"}]
    assert standin.ephemerals[0].user == "U0ALICE"

    reply = await slack.click("Retry (reset)", user="U0BOB", message=card)
    assert reply.status_code == 200
    assert [r.text for r in card.replies] == [
        "<@U0BOB> clicked TransferAct(short_id='t-4k7q', action=<Action.RETRY: 'retry'>)"
    ]

    reply = await slack.submit(
        callback_id=CallbackId.ACTION_INPUTS.value,
        user="U0BOB",
        values={"input:authinfo": {"value": "abc"}},
    )
    assert reply.json() == {
        "response_action": "errors",
        "errors": {"input:authinfo": "New authInfo must be at least 6 characters."},
    }

    reply = await slack.home_opened(user="U0ALICE")
    assert reply.status_code == 200
    assert "U0ALICE" in standin.home


async def test_bolt_refuses_forged_and_stale_signatures_and_runs_nothing(
    standin: SlackStandIn, bot_url: str
) -> None:
    slack = SignedSlack(url=bot_url, signing_secret=SIGNING_SECRET, standin=standin)
    forged = await slack.command("status test.com", user="U0EVE", signature="v0=" + "0" * 64)
    stale = await slack.command(
        "status test.com", user="U0EVE", timestamp=int(time.time()) - 6 * 60
    )
    unsigned = await slack.post(slack.command_body("help", user="U0EVE"), signed=False)
    wrong_key = SignedSlack(url=bot_url, signing_secret="not-the-secret", standin=standin)
    other = await wrong_key.command("status test.com", user="U0EVE")
    assert [r.status_code for r in (forged, stale, unsigned, other)] == [401] * 4
    assert standin.channel(CHANNEL) == [] and standin.responses == []


async def test_a_modal_opened_through_the_api_is_submitted_with_its_own_metadata(
    standin: SlackStandIn, bot_url: str, client: AsyncWebClient
) -> None:
    spec = blocked().actions[0]
    modal = action_inputs_modal(
        spec=spec, transfer=blocked(), short_id="t-4k7q", private_metadata="t-4k7q|retry"
    )
    opened = await client.views_open(trigger_id="1.2.abc", view=modal)
    assert "New authInfo: [________]" in standin.render_view(opened["view"])
    slack = SignedSlack(url=bot_url, signing_secret=SIGNING_SECRET, standin=standin)
    body = slack.submission_body(
        view=opened["view"], user="U0BOB", values={"input:authinfo": {"value": "s3cret-value"}}
    )
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["view"]["private_metadata"] == "t-4k7q|retry"
    assert payload["view"]["callback_id"] == CallbackId.ACTION_INPUTS
    reply = await slack.submit(
        view=opened["view"], user="U0BOB", values={"input:authinfo": {"value": "s3cret-value"}}
    )
    assert reply.status_code == 200 and not reply.content  # accepted: a plain ack
    assert "s3cret-value" not in standin.transcript()
    assert "Retry (reset)" in standin.transcript()


def test_transcript_shows_strings_as_sent() -> None:
    standin = SlackStandIn(token=TOKEN)
    standin.responses.append(("R1", {"text": 'quote " and \\ back', "nested": [{"x": "ü"}]}))
    transcript = standin.transcript()
    assert 'quote " and \\ back' in transcript and "ü" in transcript


def test_find_button_by_label_or_action_id() -> None:
    _, blocks = transfer_card(blocked(), short_id="t-4k7q")
    assert find_button(blocks, "Refresh")["action_id"] == "transfer.refresh:t-4k7q"
    assert find_button(blocks, "transfer.act:t-4k7q:cancel")["text"]["text"] == "Cancel"
    assert find_button(blocks, "Refresh")["block_id"] == "transfer.actions:t-4k7q"
    with pytest.raises(KeyError):
        find_button(blocks, "Approve")
