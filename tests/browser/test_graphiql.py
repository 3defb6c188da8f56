"""GraphiQL end to end: sign in with `login`, put the token in the Headers pane, run `me`.

Run with `make browser-test` (or `PROCURA_BROWSER_TEST=1 .venv/bin/python -m pytest tests/browser`).
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@demo.procura.test"
ADMIN_PASSWORD = "demo-password-1"
LOGIN = (
    "mutation SignIn {\n"
    f'  login(input: {{email: "{ADMIN_EMAIL}", password: "{ADMIN_PASSWORD}"}}) {{\n'
    "    ... on AuthPayload { accessToken }\n"
    "    ... on MutationError { code message }\n"
    "  }\n"
    "}\n"
)
ME = "query Me {\n  me { email }\n}\n"
SCREENSHOT = PROJECT_ROOT / "screenshots" / "graphiql-me.png"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}

QUERY_EDITOR = ".graphiql-query-editor"
HEADERS_EDITOR = 'section.graphiql-editor-tool[aria-label="Headers"]'
RESULT = "section.result-window"
TIMEOUT_MS = 20_000


def editor_value(page, container: str) -> str:
    # The tools pane holds both the variables and the headers editor; the inactive one is hidden.
    return page.eval_on_selector_all(
        f"{container} .graphiql-editor:not(.hidden) .CodeMirror, {container} > .CodeMirror",
        "elements => elements[0].CodeMirror.getValue()",
    )


def replace_editor_text(page, container: str, text: str, storage_key: str) -> None:
    """Focus a GraphiQL editor, select everything, delete it and type `text` in, as a user pasting would.

    GraphiQL takes an edit in on a debounce (100 ms for the query, when it also re-reads the document's
    operations; 500 ms for the headers) and then persists it under `storage_key` in localStorage.
    Wait for that: clicking "run" earlier would act on the previous document's operations.
    """
    page.locator(f"{container} .CodeMirror-lines >> visible=true").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    # insert_text sends the text as one input event (like a paste), so CodeMirror's
    # bracket auto-closing and autocompletion do not rewrite it keystroke by keystroke.
    page.keyboard.insert_text(text)
    page.keyboard.press("Control+Home")  # scroll back to the start, so the screenshot shows it
    page.keyboard.press("Escape")  # close any autocompletion popup
    assert editor_value(page, container).strip() == text.strip()
    page.wait_for_function(
        "([key, text]) => window.localStorage.getItem(key) === text", arg=[storage_key, text], timeout=TIMEOUT_MS,
    )


def run_and_wait_for_result(page, must_contain: str) -> str:
    from playwright.sync_api import expect

    # With one operation in the editor the button runs it; with several it opens a menu instead.
    run = page.locator("button.graphiql-execute-button:not([aria-haspopup])")
    expect(run).to_have_count(1, timeout=TIMEOUT_MS)
    run.click()
    page.wait_for_function(
        """([selector, needle]) => {
               const editor = document.querySelector(selector + " .CodeMirror");
               return editor && editor.CodeMirror.getValue().includes(needle);
           }""",
        arg=[RESULT, must_contain], timeout=TIMEOUT_MS,
    )
    return editor_value(page, RESULT)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", header[16:24])


def test_graphiql_signs_in_and_runs_me(server, browser_context):
    from playwright.sync_api import expect

    requests: list[str] = []
    browser_context.on("request", lambda request: requests.append(request.url))
    console_errors: list[str] = []
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: console_errors.append(str(error)))

    try:
        response = page.goto(f"{server.base_url}/graphql", wait_until="load")
        assert response is not None and response.ok, f"GET /graphql answered {response and response.status}"
        assert "text/html" in response.request.all_headers().get("accept", "")
        assert response.headers["content-type"].startswith("text/html")
        page.wait_for_selector(f"{QUERY_EDITOR} .CodeMirror", timeout=TIMEOUT_MS)
        assert "Sign in" in editor_value(page, QUERY_EDITOR)  # the page's default query is shown

        # 1. Sign in with the `login` mutation; the token comes back in the result pane.
        replace_editor_text(page, QUERY_EDITOR, LOGIN, "graphiql:query")
        login_result = json.loads(run_and_wait_for_result(page, "accessToken"))
        token = login_result["data"]["login"]["accessToken"]
        assert token.count(".") == 2, f"not a JWT: {token!r}"

        # 2. Put {"Authorization": "Bearer <token>"} in the Headers pane.
        page.get_by_role("button", name="Headers", exact=True).click()
        expect(page.locator(HEADERS_EDITOR)).to_be_visible(timeout=TIMEOUT_MS)
        replace_editor_text(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {token}"}), "graphiql:headers")

        # 3. Run `me` with that header: the result pane shows the admin's email.
        replace_editor_text(page, QUERY_EDITOR, ME, "graphiql:query")
        me_result = json.loads(run_and_wait_for_result(page, ADMIN_EMAIL))
        assert "errors" not in me_result, me_result
        assert me_result["data"] == {"me": {"email": ADMIN_EMAIL}}  # `extensions` may carry the query's cost
        expect(page.locator(RESULT)).to_contain_text(ADMIN_EMAIL, timeout=TIMEOUT_MS)

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    except Exception:
        failure = PROJECT_ROOT / "screenshots" / "graphiql-failure.png"
        failure.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(failure), full_page=True)
        print(f"browser console errors: {console_errors}\nserver log:\n{server.log()}")
        raise

    assert SCREENSHOT.is_file()
    assert SCREENSHOT.stat().st_size > 10_000, f"screenshot is only {SCREENSHOT.stat().st_size} bytes"
    width, height = png_size(SCREENSHOT)
    assert width >= 800 and height >= 600, f"screenshot is {width}x{height}"

    assert requests, "no request was seen"
    foreign = [url for url in requests
               if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).hostname not in LOCAL_HOSTS]
    assert not foreign, f"requests left localhost: {foreign}"
    graphql_posts = [url for url in requests if urlsplit(url).path == "/graphql"]
    assert len(graphql_posts) >= 3, f"expected the page, the login and `me` on /graphql, saw {graphql_posts}"


def test_graphiql_welcome_text_fits_the_editor_at_1024px(server, browser_context):
    """At 1024x768 every line of the welcome text, the demo password and the header hint included,
    is on screen inside the query editor, each on one line (not cut off, not wrapped)."""
    from playwright.sync_api import expect

    # GraphiQL keeps its tabs in localStorage, shared by the profile's tabs: leave no other GraphiQL open
    # to write them back, and clear them before this page's GraphiQL reads them.
    for earlier in browser_context.pages:
        earlier.goto("about:blank")
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    page.add_init_script("window.localStorage.clear()")
    try:
        page.goto(f"{server.base_url}/graphql", wait_until="load")
        shown = ""
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not shown.startswith("# Welcome to Procura.") and time.monotonic() < deadline:
            page.wait_for_timeout(100)
            shown = page.evaluate(
                "(selector) => document.querySelector(selector + ' .CodeMirror')?.CodeMirror.getValue() ?? ''",
                QUERY_EDITOR,
            )
        assert shown.startswith("# Welcome to Procura."), f"the editor shows {shown!r}"

        layout = page.evaluate(
            """(selector) => {
                const cm = document.querySelector(selector + " .CodeMirror").CodeMirror;
                const scroll = cm.getScrollInfo();
                const wrapped = [];
                for (let line = 0; line < cm.lineCount(); line++) {
                    const end = cm.getLine(line).length;
                    if (cm.charCoords({line, ch: 0}, "local").top !== cm.charCoords({line, ch: end}, "local").top) {
                        wrapped.push(cm.getLine(line));
                    }
                }
                return {width: scroll.width, clientWidth: scroll.clientWidth, wrapped};
            }""",
            QUERY_EDITOR,
        )
        assert layout["width"] <= layout["clientWidth"], f"the welcome text runs past the editor: {layout}"
        assert layout["wrapped"] == [], f"lines longer than the editor at 1024 px: {layout['wrapped']}"

        editor_box = page.locator(f"{QUERY_EDITOR} .CodeMirror").bounding_box()
        assert editor_box is not None
        for text in ('"demo-password-1"', '"admin@demo.procura.test"', '{"Authorization":', '"Bearer <accessToken>"}'):
            token = page.locator(f"{QUERY_EDITOR} .CodeMirror-line", has_text=text).first
            expect(token).to_be_visible(timeout=TIMEOUT_MS)
            span = token.locator("span", has_text=text.strip('{}"')).last
            box = span.bounding_box()
            assert box is not None
            assert editor_box["x"] <= box["x"] and box["x"] + box["width"] <= editor_box["x"] + editor_box["width"], (
                f"{text} is outside the editor: {box} vs {editor_box}"
            )
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT.with_name("graphiql-1024.png")))
    finally:
        page.close()
