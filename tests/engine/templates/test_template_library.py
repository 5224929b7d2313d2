import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from templatecases import context, message, write

from engine.templates import (
    Rendered,
    RenderError,
    TemplateLibrary,
    locale_chain,
    normalize_locale,
)


@pytest.fixture
def library(tmp_path):
    write(
        tmp_path,
        {
            "greet/en.html": message(
                "Hello {{ account.name }}",
                "<p>Hi {{ contact.name }} at {{ account.name }}</p>",
                "Hi {{ contact.name }} at {{ account.name }}",
            ),
            "greet/ja.html": message("{{ account.name }} 様", "<p>{{ contact.name }} 様</p>", "{{ contact.name }} 様"),
            "greet/ja-JP.html": message("JP {{ account.name }}", "<p>JP</p>", "JP"),
        },
    )
    return TemplateLibrary(tmp_path)


def test_renders_three_parts_and_escapes_only_the_html(library):
    r = library.render("greet", ["en"], context())
    assert isinstance(r, Rendered)
    assert (r.template, r.locale) == ("greet", "en")
    assert r.subject == "Hello Acme & Co"
    assert r.text == "Hi Ann <Admin> at Acme & Co\n--\nhttps://app.test/u/1"
    assert "Hi Ann &lt;Admin&gt; at Acme &amp; Co" in r.html
    assert "<h1>Hello Acme &amp; Co</h1>" in r.html  # the subject, escaped, inside the html part
    assert "<Admin>" not in r.html


def test_subject_whitespace_is_collapsed(tmp_path):
    write(tmp_path, {"m/en.html": message("\n  Two\n   lines  ", "<p>x</p>", "x")})
    assert TemplateLibrary(tmp_path).render("m", ["en"], context()).subject == "Two lines"


@pytest.mark.parametrize(
    "contact, account, default, chain",
    [
        ("ja-JP", "en", "en", ["ja-JP", "ja", "en"]),
        ("ja_jp", None, "en", ["ja-JP", "ja", "en"]),
        (None, "JA", "en", ["ja", "en"]),
        ("", "fr-CA", "en", ["fr-CA", "fr", "en"]),
        ("../etc", "en-US", "en", ["en-US", "en"]),
        ("zh-hant-tw", None, "en", ["zh-Hant-TW", "zh-Hant", "zh", "en"]),
        (None, None, "ja", ["ja"]),
    ],
)
def test_locale_chain(contact, account, default, chain):
    assert locale_chain(contact, account, default=default) == chain


def test_normalize_locale_refuses_non_tags():
    assert normalize_locale("en_us") == "en-US"
    assert normalize_locale("e") is None
    assert normalize_locale("en/../../x") is None
    assert normalize_locale(None) is None


def test_fallback_chain_picks_the_first_existing_locale(library):
    assert library.render("greet", locale_chain("ja-JP", "en"), context()).subject == "JP Acme & Co"
    assert library.render("greet", locale_chain("ja-XX", "en"), context()).subject == "Acme & Co 様"
    assert library.render("greet", locale_chain("fr", "de"), context()).locale == "en"
    assert library.locales("greet") == ["en", "ja", "ja-JP"]
    assert library.names() == ["greet"]


def test_missing_template_or_locale_is_a_render_error(library):
    with pytest.raises(RenderError) as err:
        library.render("nope/never", ["ja", "en"], context())
    assert "no template 'nope/never'" in str(err.value) and "nope/never/ja.html, nope/never/en.html" in str(err.value)
    with pytest.raises(RenderError, match="looked for greet/fr.html"):
        library.render("greet", ["fr"], context())
    with pytest.raises(RenderError, match="not a template name"):
        library.render("../greet", ["en"], context())
    with pytest.raises(RenderError, match="not a template name"):
        library.render("_layouts/base", ["en"], context())


def test_missing_variable_names_file_line_part_and_name(tmp_path):
    write(tmp_path, {"m/en.html": message("S", "<p>ok</p>\n\n<p>{{ contact.nickname }}</p>", "t")})
    with pytest.raises(RenderError) as err:
        TemplateLibrary(tmp_path).render("m", ["en"], context())
    e = err.value
    assert (e.template, e.locale, e.part, e.path, e.line) == ("m", "en", "html", "m/en.html", 5)
    assert e.reason == "contact has no 'nickname' (not a field, or empty for this contact)"
    assert str(e) == f"m/en.html:5: html: {e.reason}"


def test_missing_top_level_variable(tmp_path):
    write(tmp_path, {"m/en.html": message("S {{ missing_thing }}", "<p>x</p>", "t")})
    with pytest.raises(RenderError) as err:
        TemplateLibrary(tmp_path).render("m", ["en"], context())
    assert str(err.value) == "m/en.html:2: subject: 'missing_thing' is undefined"


def test_missing_variable_in_the_layout_names_the_layout(tmp_path):
    write(tmp_path, {"m/en.html": message("S", "<p>x</p>", "t")})
    ctx = context(links={"app": "x"})
    with pytest.raises(RenderError) as err:
        TemplateLibrary(tmp_path).render("m", ["en"], ctx)
    assert err.value.path == "_layouts/base.html" and err.value.line == 11 and "unsubscribe" in err.value.reason


def test_render_error_survives_pickling(tmp_path):
    error = RenderError("m", "en", "html", "'x' is undefined", path="m/en.html", line=3)
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) == "m/en.html:3: html: 'x' is undefined"
    assert (again.template, again.part, again.line) == ("m", "html", 3)


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("{{ nothing|default('fallback') }}", "fallback"),  # missing variable
        ("{{ account.nickname|default('fallback') }}", "fallback"),  # missing attribute
        ("{{ account['nickname']|default('fallback') }}", "fallback"),  # missing key
        ("{{ account.traits.size|default('fallback') }}", "fallback"),  # missing key of a dict field
        ("{{ nothing.deeper.still|default('fallback') }}", "fallback"),  # chain below a missing variable
        ("{{ contact.name|default('fallback') }}", "fallback"),  # contact is None (owner alerts)
        ("{{ account.name|default('fallback') }}", "Acme & Co"),  # present values win
        ("{{ account.traits.industry|default('fallback') }}", "retail"),
        ("{% if nothing is defined %}yes{% else %}no{% endif %}", "no"),
    ],
)
def test_default_filter_under_strict_undefined(tmp_path, expression, expected):
    write(tmp_path, {"m/en.html": message("S", "<p>x</p>", expression)})
    ctx = context(contact=None) if "contact" in expression else context()
    text = TemplateLibrary(tmp_path).render("m", ["en"], ctx).text
    assert text.split("\n")[0] == expected


@pytest.mark.parametrize(
    "expression",
    ["{{ nothing }}", "{{ nothing.deeper }}", "{% for x in nothing %}{% endfor %}", "{% if nothing %}{% endif %}", "{{ nothing ~ 'x' }}"],
)
def test_undefined_fails_everywhere_but_default(tmp_path, expression):
    write(tmp_path, {"m/en.html": message("S", "<p>x</p>", expression)})
    with pytest.raises(RenderError, match="'nothing' is undefined"):
        TemplateLibrary(tmp_path).render("m", ["en"], context())


BARE = (
    '{% if part == "subject" %}{% block subject %}{% endblock %}{% elif part == "text" %}{% block text %}{% endblock %}'
    '{% else %}{% block html %}{% endblock %}{% endif %}'
)


def test_every_part_is_required_to_render_something(tmp_path):
    write(tmp_path, {"_layouts/bare.html": BARE, "m/en.html": message("S", "<p>x</p>", "{# nothing #}", "_layouts/bare.html")})
    with pytest.raises(RenderError, match="text: the text part is empty"):
        TemplateLibrary(tmp_path).render("m", ["en"], context())
    write(tmp_path, {"m/en.html": message("  ", "<p>x</p>", "t")})
    with pytest.raises(RenderError, match="subject: the subject is empty"):
        TemplateLibrary(tmp_path).render("m", ["en"], context())
    write(tmp_path, {"m/en.html": message("S", "  ", "t", "_layouts/bare.html")})
    with pytest.raises(RenderError, match="html: the html part is empty"):
        TemplateLibrary(tmp_path).render("m", ["en"], context())


def test_syntax_error_is_positioned(tmp_path):
    write(tmp_path, {"m/en.html": message("S", "<p>\n{% if %}</p>", "t")})
    with pytest.raises(RenderError) as err:
        TemplateLibrary(tmp_path).render("m", ["en"], context())
    assert err.value.path == "m/en.html" and err.value.line == 4


def test_css_is_inlined_after_rendering(library):
    html = library.render("greet", ["en"], context()).html
    assert '<p style="color: #123456;">Hi Ann' in html
    assert '<p class="big" style="color: #123456;font-size: 20px;">' in html
    assert "<style>" not in html


def test_remote_stylesheets_are_never_fetched(tmp_path):
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            body = b"p { color: #ff0000 }"
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        layout = (
            '{% if part == "subject" %}{% block subject %}{% endblock %}{% elif part == "text" %}{% block text %}{% endblock %}'
            f'{{% else %}}<html><head><link rel="stylesheet" href="{url}/a.css"><style>@import url({url}/b.css);</style></head>'
            "<body>{% block html %}{% endblock %}</body></html>{% endif %}"
        )
        write(tmp_path, {"_layouts/base.html": layout, "m/en.html": message("S", "<p>x</p>", "t")})
        html = TemplateLibrary(tmp_path).render("m", ["en"], context()).html
        assert requests == []
        assert "#ff0000" not in html and "<p>x</p>" in html
        # The server does answer: a fetch would have been seen.
        import urllib.request

        assert urllib.request.urlopen(f"{url}/probe.css").read() == b"p { color: #ff0000 }"
        assert requests == ["/probe.css"]
    finally:
        server.shutdown()
        server.server_close()


def test_in_app_fragments_are_not_wrapped_in_a_document(tmp_path):
    layout = (
        '{% if part == "subject" %}{% block subject %}{% endblock %}{% elif part == "text" %}{% block text %}{% endblock %}'
        '{% else %}<div class="nudge">{% block html %}{% endblock %}</div>{% endif %}'
    )
    write(tmp_path, {"_layouts/in_app.html": layout, "n/en.html": message("Title", "<p>{{ account.name }}</p>", "t", "_layouts/in_app.html")})
    r = TemplateLibrary(tmp_path).render("n", ["en"], context())
    assert r.html == '<div class="nudge"><p>Acme &amp; Co</p></div>'
    assert r.subject == "Title"


def test_partials_and_macros(tmp_path):
    write(
        tmp_path,
        {
            "_partials/button.html": '{% macro button(url, label) %}<a href="{{ url }}">{{ label }}</a>{% endmacro %}',
            "_partials/sig.txt": "-- {{ account.name }}",
            "m/en.html": message(
                "S",
                '{% from "_partials/button.html" import button %}{{ button(links.app, account.name) }}',
                'Body\n{% include "_partials/sig.txt" %}',
            ),
        },
    )
    r = TemplateLibrary(tmp_path).render("m", ["en"], context())
    assert '<a href="https://app.test/">Acme &amp; Co</a>' in r.html
    assert r.text.startswith("Body\n-- Acme & Co")


def test_template_changes_are_picked_up(tmp_path):
    write(tmp_path, {"m/en.html": message("One", "<p>x</p>", "t")})
    library = TemplateLibrary(tmp_path)
    assert library.render("m", ["en"], context()).subject == "One"
    path = tmp_path / "m/en.html"
    path.write_text(message("Two", "<p>x</p>", "t"))
    import os

    os.utime(path, (path.stat().st_atime + 5, path.stat().st_mtime + 5))
    assert library.render("m", ["en"], context()).subject == "Two"
