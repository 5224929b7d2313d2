"""Hostile templates fail safely: a RenderError naming the file, quickly, with nothing sent."""

import time

import pytest
from jinja2 import Template
from jinja2.exceptions import SecurityError
from templatecases import context, message, write

from engine.templates import Limits, RenderError, TemplateLibrary
from engine.templates.sandbox import SafeEnvironment


def render(tmp_path, html, limits=None, text="t"):
    write(tmp_path, {"h/en.html": message("S", html, text)})
    return TemplateLibrary(tmp_path, limits).render("h", ["en"], context())


def refused(tmp_path, html, match, limits=None):
    started = time.monotonic()
    with pytest.raises(RenderError, match=match) as err:
        render(tmp_path, html, limits)
    # Refused before the work is done, not after it.
    assert time.monotonic() - started < 5
    assert err.value.template == "h" and err.value.path == "h/en.html"
    return err.value


@pytest.mark.parametrize(
    "html",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ account.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ (1).__class__.__base__ }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ namespace.__init__.__globals__['os'] }}",
        "{{ usage._rows }}",
    ],
)
def test_private_attributes_are_refused(tmp_path, html):
    refused(tmp_path, html, r"access to attribute '_\w*' of '\w+' object is unsafe|'_rows'")


def test_the_sandbox_error_is_a_security_error_inside(tmp_path):
    error = refused(tmp_path, "{{ ''.__class__ }}", "unsafe")
    assert error.part == "html" and error.line == 3


def test_no_lipsum_and_no_mutation(tmp_path):
    refused(tmp_path, "{{ lipsum(10**6) }}", "'lipsum' is undefined")
    refused(tmp_path, "{% set l = [1] %}{{ l.append(2) }}", "attribute 'append' of 'list' object is unsafe")
    refused(tmp_path, "{{ links.update({'app': 'evil'}) }}", "attribute 'update' of 'dict' object is unsafe")


def test_include_cannot_leave_the_folder(tmp_path):
    refused(tmp_path, "{% include '../../../etc/passwd' %}", "not found")


@pytest.mark.parametrize(
    "html",
    [
        "{% for i in range(10**9) %}{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "{% for i in [1] * 40000 %}{% for j in [1, 2] %}{% endfor %}{% endfor %}",
        "{% for x in [1, 2, 3] recursive %}{{ loop([1, 2, 3] * 100) }}{% endfor %}",
    ],
)
def test_loops_are_budgeted(tmp_path, html):
    refused(tmp_path, html, "too much work|too deeply")


@pytest.mark.parametrize(
    "html, match",
    [
        ("{{ 'x' * 10**9 }}", "repeating a value"),
        ("{{ [1] * 10**9 }}", "repeating a value"),
        ("{{ 10 ** (10 ** 9) }}", "larger than 4096 bits"),
        ("{% set ns = namespace(x=3) %}{% for i in range(100) %}{% set ns.x = ns.x * ns.x %}{% endfor %}", "larger than 4096 bits"),
        ("{{ 'x'|center(10**9) }}", "filter center"),
        ("{{ 'x'.center(10**9) }}", "str.center"),
        ("{{ 'x'.ljust(10**9) }}", "str.ljust"),
        ("{{ '\t'.expandtabs(10**9) }}", "str.expandtabs"),
        ("{{ 'a\nb'|indent(10**9) }}", "filter indent"),
        ("{{ [1]|batch(10**9, 0)|list }}", "filter batch"),
        ("{{ [1]|slice(10**9)|list }}", "filter slice"),
        ("{{ '%1000000000d'|format(1) }}", "format width"),
        ("{{ '%1000000000d' % 1 }}", "format width"),
        ("{{ '%*d' % (10**9, 1) }}", "format width"),
        ("{{ '{:>1000000000}'.format(1) }}", "format width"),
        ("{{ '{:>{w}}'.format(1, w=10**9) }}", "nested format specs"),
        ("{% set a = 'x' * 1000 %}{{ a.replace('x', a).replace('x', a) }}", "str.replace result"),
        ("{{ range(1000)|join('x' * 100000) }}", "joined string larger"),
        ("{{ ('x' * 1000).join(['a'] * 1000) }}", "joined string larger"),
        ("{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "joined string larger"),
        ("{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "larger than"),
        ("{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", "larger than"),
        ("{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ f('x', 60) }}", "larger than"),
    ],
)
def test_huge_values_are_refused_before_they_exist(tmp_path, html, match):
    refused(tmp_path, html, match)


def test_recursion_is_a_render_error(tmp_path):
    refused(tmp_path, "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "too deeply")


def test_output_size_is_capped_per_part(tmp_path):
    html = "{% for i in range(400) %}{{ 'x' * 1000 }}{% endfor %}"
    refused(tmp_path, html, r"html: the html part is larger than 262144 bytes")
    # Bytes, not characters: 3-byte characters reach the cap sooner.
    small = Limits(max_part_bytes=10_000)
    assert len(render(tmp_path, "{{ 'x' * 3000 }}", small).html) > 3000
    refused(tmp_path, "{{ 'あ' * 3400 }}", "larger than 10000 bytes", small)
    # Exact near the cap, whether it is reached in one chunk or many: 3,000 of them is 9,000 bytes.
    assert len(render(tmp_path, "{{ 'あ' * 3000 }}", small).html) >= 3000
    assert len(render(tmp_path, "{% for i in range(30) %}{{ 'あ' * 100 }}{% endfor %}", small).html) >= 3000
    refused(tmp_path, "{% for i in range(34) %}{{ 'あ' * 100 }}{% endfor %}", "larger than 10000 bytes", small)


def test_output_that_is_not_valid_text_is_a_render_error(tmp_path):
    refused(tmp_path, "{{ '\\ud800' }}", "html: the output is not valid text")


def test_time_is_bounded(tmp_path):
    limits = Limits(max_seconds=0.2, max_operations=10**9)
    started = time.monotonic()
    with pytest.raises(RenderError, match="took longer than 0.2 seconds"):
        render(tmp_path, "{% for i in range(10**8) %}{% endfor %}", limits)
    assert time.monotonic() - started < 2


def test_time_is_checked_between_output_chunks(tmp_path):
    limits = Limits(max_seconds=0.2, max_operations=10**9, max_part_bytes=10**9)
    with pytest.raises(RenderError, match="took longer than"):
        render(tmp_path, "{% for i in range(10**8) %}{{ i }}{% endfor %}", limits)


def test_operation_budget_is_per_render(tmp_path):
    limits = Limits(max_operations=3000)
    html = "{% for i in range(900) %}{% endfor %}"  # 900 for range + 900 iterations, in each of three parts
    write(tmp_path, {"h/en.html": message("{{ 's' }}", html, "t")})
    library = TemplateLibrary(tmp_path, limits)
    library.render("h", ["en"], context())
    library.render("h", ["en"], context())  # a fresh budget each time
    write(tmp_path, {"h/en.html": message("S", html + html, "t")})
    with pytest.raises(RenderError, match="too much work"):
        library.render("h", ["en"], context())


def test_ordinary_templates_are_untouched_by_the_limits(tmp_path):
    html = (
        "{% for i in range(50) %}{{ loop.index }}{% if not loop.last %},{% endif %}{% endfor %}"
        "|{{ '%05.1f' % 3.14159 }}|{{ '{:>6}'.format('ab') }}|{{ 2 ** 10 }}|{{ 'ab' * 3 }}"
        "|{{ [1, 2] + [3] }}|{{ ['a', 'b']|join('-') }}|{{ 'x'|center(5) }}|"
    )
    out = render(tmp_path, html).html
    assert "48,49,50|003.1|    ab|1024|ababab|[1, 2, 3]|a-b|  x  |" in out


def test_rendering_outside_the_library_is_refused():
    env = SafeEnvironment()
    template: Template = env.from_string("{% for i in range(3) %}{{ i }}{% endfor %}")
    with pytest.raises(SecurityError, match="only inside a budget"):
        template.render()


@pytest.mark.parametrize(
    "html",
    [
        "{{ account }}",
        '{{ "%s"|format(account) }}',
        '{{ "%(a)s"|format(a=contact) }}',
        '{{ "{}".format(account) }}',
        '{{ "%s and %s" % ("x", contact) }}',
        '{{ "Dear " ~ contact }}',
        "{{ account|string }}",
        "{{ account|pprint }}",
        "{{ contact|default('there') }}",
    ],
)
def test_a_record_is_never_printed_as_its_python_repr(tmp_path, html):
    err = refused(tmp_path, html, "is a record, not text: print one of its fields, such as")
    assert "Record(" not in str(err) and err.line == 3


def test_usage_is_not_text_either(tmp_path):
    refused(tmp_path, '{{ "%s"|format(usage) }}', r"usage is not text: print a count, such as usage.count\('login', 30\)")


def test_fields_of_a_record_still_print_and_format(tmp_path):
    html = '{{ account.name }}|{{ "%s"|format(contact.name) }}|{{ "{}".format(account.tier) }}|{{ "%(name)s"|format(**account) }}|{% if contact %}c{% endif %}'
    assert "Acme &amp; Co|Ann &lt;Admin&gt;|tech|Acme &amp; Co|c" in render(tmp_path, html).html


def test_a_template_nested_past_pythons_limits_fails_to_render_cleanly(tmp_path):
    # Jinja compiles it into Python with too many levels of indentation (a SyntaxError, not a TemplateError).
    refused(tmp_path, "{% if part %}" * 400 + "x" + "{% endif %}" * 400, "nested too deeply")
