from __future__ import annotations

from goose_assets.core.synthesis.leakage import (
    ANSWER_CONTAINS_DISTRACTOR,
    ANSWER_IN_CONTEXT,
    ANSWER_SENTENCE_REPEATED,
    DISTRACTOR_CONTAINS_ANSWER,
    DISTRACTOR_EQUALS_ANSWER,
    NEAR_DUPLICATE_OPTIONS,
    find_leaks,
    leak_reasons,
    leak_reasons_for_options,
    summarize_leaks,
)

CONTEXT = (
    "Problem: Find the sum of the roots of $x^2 - 5x + 6 = 0$.\n\n"
    "Solution: [MASK] Hence the answer is $5$."
)
ANSWER = "By Vieta's formulas, the sum of the roots equals $-(-5)/1$, which is $5$."
DISTRACTORS = [
    "Factoring gives $(x-1)(x-6)$, so the roots add up to $7$.",
    "The product of the roots is $6$, and the product is what the problem asks for.",
    "Completing the square yields $(x-2.5)^2 = 0.25$, so there is a single root.",
    "The discriminant is $1$, so both roots are negative and their sum is $-5$.",
]


def test_clean_item_passes() -> None:
    assert leak_reasons(CONTEXT, ANSWER, DISTRACTORS) == []


def test_answer_in_context_caught_despite_case_space_punct_and_latex_spacing() -> None:
    context = (
        CONTEXT + "\nRecall: by  VIETA'S formulas the sum of the\\, roots equals -(-5)/1 which is 5"
    )
    assert ANSWER_IN_CONTEXT in leak_reasons(context, ANSWER, DISTRACTORS)


def test_short_answer_in_context_is_not_a_leak() -> None:
    # "x = 5" is 2 words and 5 chars: it appears in contexts by coincidence
    context = "We know x = 5 from above. [MASK] Then y = x = 5 again."
    assert ANSWER_IN_CONTEXT not in leak_reasons(context, "x = 5", ["x = 4", "x = 6"])


def test_answer_does_not_match_across_the_mask() -> None:
    # the answer's words sit on both sides of [MASK]; that is not the answer in the text
    context = "the sum of the [MASK] roots equals five"
    reasons = leak_reasons(context, "the sum of the roots equals five", ["a b c d e f g h"])
    assert ANSWER_IN_CONTEXT not in reasons


def test_distractor_equal_to_answer_modulo_whitespace_and_case() -> None:
    reasons = leak_reasons(CONTEXT, "return a+b", ["RETURN  a + b", "return a-b"])
    assert DISTRACTOR_EQUALS_ANSWER in reasons


def test_operator_mutation_is_not_equal() -> None:
    # loose normalization would turn both into "return a b"; equality keeps operators
    reasons = leak_reasons(CONTEXT, "return a + b", ["return a - b"])
    assert DISTRACTOR_EQUALS_ANSWER not in reasons


def test_distractor_contains_answer_and_answer_contains_distractor() -> None:
    answer = "the ideal gas law relates pressure and volume"
    wrapped = f"As noted, {answer} at fixed temperature."
    assert DISTRACTOR_CONTAINS_ANSWER in leak_reasons("ctx [MASK] ctx", answer, [wrapped])
    part = "relates pressure and volume"
    assert ANSWER_CONTAINS_DISTRACTOR in leak_reasons("ctx [MASK] ctx", answer, [part])


def test_containment_needs_word_boundaries_and_length() -> None:
    # "cat" is inside "concatenate" but not as a word, and is too short anyway
    reasons = leak_reasons("ctx [MASK] ctx", "we concatenate the lists", ["cat"])
    assert ANSWER_CONTAINS_DISTRACTOR not in reasons


def test_near_duplicate_options_caught_and_distinct_options_pass() -> None:
    base = "The enthalpy change of the reaction is negative, so the process releases heat."
    one_char = base.replace("releases", "release")
    assert NEAR_DUPLICATE_OPTIONS in leak_reasons("ctx [MASK]", base, [one_char])
    assert NEAR_DUPLICATE_OPTIONS not in leak_reasons(CONTEXT, ANSWER, DISTRACTORS)


def test_near_duplicate_between_two_distractors_counts() -> None:
    d = "Because the loop stops one step early, the last element is never compared to the key."
    findings = find_leaks("ctx [MASK]", ANSWER, [d, d.replace("key.", "key!")])
    near = [f for f in findings if f.reason == NEAR_DUPLICATE_OPTIONS]
    assert near and "distractor 0 ~ distractor 1" in near[0].detail


def test_answer_sentence_repeated_elsewhere_in_context() -> None:
    answer = (
        "The limiting reagent is the one that produces the least amount of product. "
        "Here that is oxygen."
    )
    context = (
        "Stoichiometry review. The limiting reagent is the one that produces the least "
        "amount of product! [MASK] So the yield is set by oxygen."
    )
    reasons = leak_reasons(context, answer, ["Nitrogen is the limiting reagent here, always."])
    assert ANSWER_SENTENCE_REPEATED in reasons
    # the whole answer is not in the context, only one of its sentences
    assert ANSWER_IN_CONTEXT not in reasons


def test_short_repeated_code_line_is_not_a_leak() -> None:
    answer = "    total += x\n    count += 1\n    return total / count"
    context = "def mean(xs):\n    total = 0\n    count = 0\n[MASK]\n\nprint(count += 1)"
    assert ANSWER_SENTENCE_REPEATED not in leak_reasons(context, answer, ["    return 0"])


def test_leak_reasons_for_options_uses_answer_index() -> None:
    options = ["alpha beta gamma delta", "the sum of the roots is five", "epsilon zeta eta"]
    context = "Note that the sum of the roots is five. [MASK]"
    assert leak_reasons_for_options(context, options, 1) == [ANSWER_IN_CONTEXT]
    assert leak_reasons_for_options(context, options, 0) == []


def test_summary_counts_reasons_and_keeps_few_examples() -> None:
    items = [(f"t{i}", find_leaks("ctx [MASK]", "return a+b", ["return a + b"])) for i in range(5)]
    items.append(("clean", []))
    summary = summarize_leaks(items, max_examples=2)
    meta = summary.to_metadata()
    assert meta["n_items"] == 6
    assert meta["n_flagged"] == 5
    assert meta["counts"][DISTRACTOR_EQUALS_ANSWER] == 5
    assert meta["counts"][ANSWER_IN_CONTEXT] == 0
    assert [e["id"] for e in meta["examples"][DISTRACTOR_EQUALS_ANSWER]] == ["t0", "t1"]


def test_summary_accepts_bare_reason_codes() -> None:
    summary = summarize_leaks([("a", [ANSWER_IN_CONTEXT]), ("b", [])])
    assert summary.counts[ANSWER_IN_CONTEXT] == 1
    assert summary.n_flagged == 1


def test_mirror_image_code_line_is_not_a_repeat() -> None:
    # loose normalization drops operators: "- 1" and "+ 1" would look the same
    answer = "self.ant_direction = (self.ant_direction - 1) % 4\nself.move()"
    context = (
        "if turn_right:\n    self.ant_direction = (self.ant_direction + 1) % 4\nelse:\n    [MASK]\n"
    )
    assert leak_reasons(context, answer, ["self.stop()"]) == []
    copied = context.replace("+ 1", "- 1")
    assert ANSWER_SENTENCE_REPEATED in leak_reasons(copied, answer, ["self.stop()"])


def test_code_answer_in_context_is_operator_exact() -> None:
    answer = "return fib(n - 1) + fib(n - 2)"
    assert ANSWER_IN_CONTEXT in leak_reasons(
        "def fib(n):\n    # return fib(n-1)+fib(n-2)\n    [MASK]", answer, ["return 0"]
    )
    assert ANSWER_IN_CONTEXT not in leak_reasons(
        "def fib(n):\n    # return fib(n+1)+fib(n+2)\n    [MASK]", answer, ["return 0"]
    )


# written for these tests: a statement whose Asymptote code the solution draws again,
# spaced and punctuated differently
ASY_QUESTION = (
    "The graph of $y = f(x)$ is drawn below.\n\n[asy]\nunitsize(0.4 cm);\nreal f(real x) {\n  real y;\n"
    "  if (x >= -2 && x <= 1) {y = 3 - 2*x;}\n  if (x >= 1 && x <= 4) {y = x - 1;}\n  return(y);\n}\n"
    "draw(graph(f,-2,4),blue);\n[/asy]\n\nWhat is $f(0) + f(3)$?"
)
ASY_ANSWER = "if(x>=-2&&x<=1){ y=3-2*x; }\n  if(x>=1&&x<=4){ y=x-1; }"
ASY_SOLUTION_MASKED = (
    "The graph is made of two pieces, drawn by this code:\n[asy]\nreal f(real x) {\n  real y;\n  [MASK]\n"
    "  return(y);\n}\n[/asy]\nOn the first piece $f(0) = 3$, on the second $f(3) = 2$, so the sum is $\\boxed{5}$."
)
ASY_DISTRACTORS = [
    "if(x>=-2&&x<=1){ y=3+2*x; }\n  if(x>=1&&x<=4){ y=x+1; }",
    "if(x>=-2&&x<=1){ y=2-3*x; }\n  if(x>=1&&x<=4){ y=x-2; }",
]


def test_code_the_problem_statement_repeats_is_a_leak() -> None:
    from goose_assets.core.synthesis.mcq import render_question

    question = render_question("math", "qa", ASY_QUESTION, ASY_SOLUTION_MASKED)
    options = [ASY_ANSWER, *ASY_DISTRACTORS]
    assert ANSWER_IN_CONTEXT in leak_reasons_for_options(question, options, 0)
    # the masked solution alone does not show it: the statement is what leaks
    assert leak_reasons_for_options(ASY_SOLUTION_MASKED, options, 0) == []
    # a distractor is not in the statement: an operator differs, punctuation aside
    assert ANSWER_IN_CONTEXT not in leak_reasons_for_options(question, [ASY_DISTRACTORS[0], ASY_ANSWER], 0)


def test_latex_alignment_marks_count_as_punctuation() -> None:
    context = (
        "Problem: Compute $(3^{1001}+7^{1002})^2-(3^{1001}-7^{1002})^2$, and show that it equals "
        "\\beta^5 + \\beta^4 + \\beta^3 + \\beta^2 + \\beta + 12 for a suitable $\\beta$.\n\n"
        "Solution: \\begin{align*}\n[MASK]\n\\end{align*}"
    )
    first_line = "&(3^{1001}+7^{1002})^2-(3^{1001}-7^{1002})^2\\\\\n&= 4 \\cdot 3^{1001} \\cdot 7^{1002}"
    assert leak_reasons(context, first_line, ["&= 0"]) == [ANSWER_SENTENCE_REPEATED]
    # an aligned `&=` line shows the expression that the statement holds after "equals"
    aligned = "&= \\beta^5 + \\beta^4 + \\beta^3 + \\beta^2 + \\beta + 12 \\\\\n&= 4 \\cdot 3^{1001}"
    assert leak_reasons(context, aligned, ["&= 0"]) == [ANSWER_SENTENCE_REPEATED]
    # a sign is not layout: the same line with -2 is no repeat
    assert leak_reasons(context, aligned.replace("+ 12", "- 12"), ["&= 0"]) == []


def test_markdown_emphasis_bullets_and_doctest_prompts_count_as_punctuation() -> None:
    heading = "**How to Test for Path Traversal Flaws**:\n\n- Send `../` sequences in every parameter."
    context = "## How to Test for Path Traversal Flaws\n\nStart with the inputs. [MASK]\n\nThen report."
    assert ANSWER_SENTENCE_REPEATED in leak_reasons(context, heading, ["Use the scanner only."])
    code = "result_total = add_numbers(first_value, second_value)\nprint_report(result_total, report_format)"
    doctest = (
        'def run():\n    """\n    >>> result_total = add_numbers(first_value, second_value)\n'
        '    >>> print_report(result_total, report_format)\n    """\n    [MASK]\n'
    )
    assert ANSWER_IN_CONTEXT in leak_reasons(doctest, code, ["return None"])


def test_operators_that_change_meaning_are_still_not_punctuation() -> None:
    # a sign, or `|` for `&` in a shell command, makes a different line: no repeat
    context = "If $a = 1,$ then the equation $a^2 - ab + b^2 = 1$ becomes $b^2 - b = 0$. [MASK]"
    answer = "If $a = -1,$ then the equation $a^2 - ab + b^2 = 1$ becomes\n\\[b^2 + b = 0.\\]"
    assert leak_reasons(context, answer, ["No solution exists."]) == []
    shell = "- `cmd1&cmd2` : cmd2 will be executed whether cmd1 succeeds or not.\n[MASK]"
    piped = "- `cmd1|cmd2` : cmd2 will be executed whether cmd1 succeeds or not."
    assert leak_reasons(shell, piped, ["- `cmd1;cmd2` : both always run."]) == []
