"""Tests for recipes.chinese: segmentation, analysis, expansion, generator, content filter."""

from __future__ import annotations

import random

import pytest

from recipes import chinese as zh
from recipes import judge
from recipes.toy import captions as tc
from recipes.toy import world as tw

LONG = ("月光下古镇街头的一位白发老人提着一盏红色灯笼石板路被雨水打湿"
        "远处是层层叠叠的山峦和薄雾水墨风格")  # 47 CJK characters, no punctuation


@pytest.fixture(scope="module")
def tok():
    from transformers import CLIPTokenizer

    from recipes.toy.model import TOY_DIR

    return CLIPTokenizer.from_pretrained(TOY_DIR / "tokenizer")


class _SlowView:
    """The toy tokenizer without offsets, to exercise the decode fallback."""

    is_fast = False

    def __init__(self, tok) -> None:
        self._tok = tok

    def __call__(self, text, **kwargs):
        return self._tok(text, **kwargs)

    def decode(self, ids, **kwargs):
        return self._tok.decode(ids, **kwargs)

    def num_special_tokens_to_add(self) -> int:
        return self._tok.num_special_tokens_to_add()


# --- Segmentation and styles ------------------------------------------------------
def test_style_terms_stay_whole():
    terms = ["水墨", "写意", "工笔", "油画", "水彩", "素描", "赛博朋克", "蒸汽朋克", "浮世绘",
             "像素风", "国画", "山水画", "印象派", "极简主义", "电影感", "逆光", "景深", "高清",
             "超现实主义"]
    for term in terms:
        assert term in zh.segment(f"一幅{term}的作品，很好看"), term
    assert zh.segment("赛博朋克风格的雨夜，逆光，景深")[:1] == ["赛博朋克"]


def test_terms_belong_to_one_style_and_count_is_sane():
    flat = [t for terms in zh.STYLE_TERMS.values() for t in terms]
    assert len(flat) == len(set(flat))
    assert 30 <= len(flat) + len(zh.LIGHT_TERMS) + len(zh.QUALITY_TERMS) <= 90


def test_toy_world_words_stay_whole():
    words = zh.segment("白色背景上左边有一个小的红色圆形")
    for word in ("白色背景", "左边", "红色", "圆形"):
        assert word in words
    assert set(zh.segment("黑底，右侧，蓝色正方形")) == {"黑底", "右侧", "蓝色", "正方形"}


def test_segment_drops_punctuation_and_whitespace():
    words = zh.segment("  一只猫， 水彩！ (高清) ")
    assert words == ["一只", "猫", "水彩", "高清"]


def test_global_jieba_dictionary_untouched():
    import jieba

    zh.segment("蒸汽朋克")
    jieba.dt.check_initialized()  # an empty FREQ would make this test pass vacuously
    assert len(jieba.dt.FREQ) > 100000
    assert "蒸汽朋克" not in jieba.dt.FREQ and "白色背景" not in jieba.dt.FREQ


def test_detect_styles():
    assert zh.analyze("一幅写意国画，留白").styles == ["ink"]
    assert zh.analyze("赛博朋克城市，电影感，浅景深").styles == ["cyberpunk", "photo"]
    assert zh.analyze("夕阳下湖边的一只白色小猫，柔和逆光，水彩风格").styles == ["watercolor"]
    assert zh.analyze("一只猫，水墨风格").styles == ["ink"]  # compound word 水墨风格
    assert zh.analyze("一只猫坐在窗台上").styles == []


def test_analyze_without_tokenizer():
    a = zh.analyze("一只小猫，油画")
    assert (a.n_chars, a.n_cjk, a.styles) == (7, 6, ["oil"])
    assert a.n_tokens is None and a.over_budget is None and a.truncated_text is None


# --- Token budget --------------------------------------------------------------------
def test_token_counting_toy_tokenizer(tok):
    a = zh.analyze("一只小猫", tok)
    assert a.n_tokens == len(tok("一只小猫").input_ids) == 2 + 4 * 3  # BOS, EOS, 3 per char
    assert a.tokens_per_char == pytest.approx(3.0)
    assert a.over_budget is False and a.truncated_text == ""
    assert zh.analyze("a red circle", tok).tokens_per_char is None


def test_over_budget_long_prompt(tok):
    a = zh.analyze(LONG, tok)
    assert a.n_tokens == 2 + 3 * len(LONG) == 143
    assert a.over_budget
    # 75 content tokens keep exactly 25 characters.
    assert a.truncated_text == LONG[25:]


@pytest.mark.parametrize("budget", [10, 11, 12, 13, 40])
def test_truncation_splitting_a_character(tok, budget):
    # The cut falls inside a 3-token character unless (budget - 2) is a multiple of 3;
    # a partly kept character counts as lost.
    kept_chars = (budget - 2) // 3
    a = zh.analyze(LONG, tok, budget=budget)
    assert a.truncated_text == LONG[kept_chars:]
    if (budget - 2) % 3:  # decoding only the kept tokens shows the broken character
        kept = tok(LONG, truncation=True, max_length=budget).input_ids
        assert tok.decode(kept, skip_special_tokens=True).endswith("\ufffd")


def test_truncation_slow_fallback_agrees(tok):
    for budget in (10, 11, 77):
        fast = zh.analyze(LONG, tok, budget=budget).truncated_text
        slow = zh.analyze(LONG, _SlowView(tok), budget=budget).truncated_text
        assert slow == fast
    assert zh.analyze(LONG, _SlowView(tok)).tokens_per_char == pytest.approx(3.0)


def test_truncation_english_word_is_lost_whole(tok):
    a = zh.analyze("a red circle on the left, white background, big", tok, budget=8)
    assert a.n_tokens == 13
    assert a.truncated_text == ", white background, big"
    fits = zh.analyze("a red circle", tok, budget=5)
    assert fits.n_tokens == 5 and not fits.over_budget and fits.truncated_text == ""


# --- Style expansion -------------------------------------------------------------------
def test_expand_style_adds_terms_without_duplicates():
    out = zh.expand_style("一只白色小猫，水墨", "ink")
    assert out.startswith("一只白色小猫，水墨，")
    added = out.split("，")[2:]
    assert added[:2] == ["写意", "留白"]
    assert "水墨" not in added and "水墨画" not in added  # present, and redundant with 水墨
    assert len(added) == len(set(added))
    assert zh.expand_style("山水画。", "ink", max_terms=2) == "山水画，水墨，写意"


def test_expand_style_skips_substrings():
    out = zh.expand_style("宣纸上的写意小品", "ink", max_terms=3)
    assert out == "宣纸上的写意小品，水墨，留白，国画"


def test_expand_style_respects_budget(tok):
    prompt = "一只白色小猫"
    out = zh.expand_style(prompt, "ink", tok, budget=40)
    assert len(tok(out).input_ids) <= 40
    nxt = zh.STYLE_TERMS["ink"][len(out.split("，")) - 1]
    assert len(tok(f"{out}，{nxt}").input_ids) > 40  # stopped only because the next one overflows
    assert out == "一只白色小猫，水墨，写意"
    assert zh.expand_style(LONG, "ink", tok) == LONG  # already over budget: unchanged


def test_expand_style_unknown_style():
    with pytest.raises(ValueError, match="unknown style 'vaporwave'; choose one of ink, ") as e:
        zh.expand_style("一只猫", "vaporwave")
    assert "\n" not in str(e.value)


# --- Generator ---------------------------------------------------------------------------
def test_generator_is_deterministic_and_varied():
    a, b = zh.generate_prompts(20, seed=3), zh.generate_prompts(20, seed=3)
    assert a == b
    assert a != zh.generate_prompts(20, seed=4)
    assert zh.PromptGenerator(3).generate(20) == a
    big = zh.generate_prompts(100, seed=0)
    assert len(set(big)) == 100
    assert len({zh.analyze(p).styles[0] for p in big}) >= 8


def test_generator_style_and_shape():
    prompts = zh.generate_prompts(10, seed=1, style="ink")
    for p in prompts:
        assert p.endswith("，水墨风格")
        assert p.count("，") == 2 and "的一" in p
        assert zh.analyze(p).styles == ["ink"]
    with pytest.raises(ValueError, match="unknown style"):
        zh.generate_prompts(3, style="nope")


# --- Content filter ------------------------------------------------------------------------
@pytest.mark.parametrize("prompt, term", [
    ("一张色情图片", "色情"), ("色 情", "色情"), ("色-情 画面", "色情"), ("色　情", "色情"),
    ("血·腥的场面", "血腥"), ("Ｎｕｄｅ woman", "nude"), ("一个nude女人", "nude"),
    ("NUDES on a beach", "nude"), ("a GORY scene", "gory"), ("贩卖毒品", "毒品"),
])
def test_filter_blocks_default_terms(prompt, term):
    result = zh.ContentFilter().check(prompt)
    assert not result.ok and term in result.matched
    assert term in result.reason and "configurable" in result.reason and "\n" not in result.reason


@pytest.mark.parametrize("prompt", [
    "夕阳下湖边的一只白色小猫，柔和逆光，水彩风格", "景色情调优美的山谷", "特色情侣装",
    "颜色 情绪", "method acting portrait", "a red circle on the left", "bloodhound puppy",
])
def test_filter_passes_normal_prompts(prompt):
    result = zh.ContentFilter().check(prompt)
    assert result.ok and result.matched == [] and result.reason == "ok"


def test_filter_is_configurable(tmp_path):
    custom = zh.ContentFilter(blocklist=["恐龙"], extra=["Dragon fire"])
    assert custom.check("一只恐 龙").matched == ["恐龙"]
    assert custom.check("a dragon  FIRE breath").matched == ["dragon fire"]
    assert custom.check("一张色情图片").ok  # default list replaced
    extra = zh.ContentFilter(extra=["恐龙"])
    assert extra.check("恐龙").matched == ["恐龙"] and not extra.check("裸体").ok
    path = tmp_path / "block.txt"
    path.write_text("# my list\n恐龙  # no dinosaurs\n\nunicorn\n", encoding="utf-8")
    assert zh.load_blocklist(path) == ["恐龙", "unicorn"]
    loaded = zh.ContentFilter.from_file(path)
    assert loaded.check("Unicorns").matched == ["unicorn"] and not loaded.check("裸体").ok
    assert zh.ContentFilter.from_file(path, include_default=False).check("裸体").ok


def test_filter_require():
    f = zh.ContentFilter()
    assert f.require("一只小猫") == "一只小猫"
    with pytest.raises(zh.BlockedPrompt, match="matched '暴力'.*configurable") as e:
        f.require("暴 力 场面")
    assert isinstance(e.value, ValueError) and e.value.matched == ["暴力"]


def test_docstrings_say_first_line_of_defence():
    for doc in (zh.safety.__doc__, zh.ContentFilter.__doc__):
        assert "first line of defence" in doc and "not a guarantee" in doc
        assert "safety checker" in doc and "human review" in doc


# --- Empty prompts ------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    zh.analyze, lambda p: zh.expand_style(p, "ink"), zh.ContentFilter().check,
])
@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_errors(call, prompt):
    with pytest.raises(ValueError, match="prompt is empty: pass some text") as e:
        call(prompt)
    assert "\n" not in str(e.value)


def test_toy_vocabulary_is_in_dictionary():
    words = [w for w in tc.keywords("zh") if len(w) >= 2]
    freq = zh.text._jieba().FREQ
    assert all(freq.get(w, 0) >= 100000 for w in words)


def test_translate_template_caption_round_trips_to_english():
    rng = random.Random(4)
    for _ in range(50):
        scene = tw.sample_scene(rng)
        result = zh.translate(tc.caption(scene, "zh", rng))
        assert result.unknown == []
        parsed = judge.parse_prompt(result.english)
        assert all(parsed[k] == v for k, v in scene.as_dict().items()), result.english


def test_translate_reports_words_outside_the_glossary():
    result = zh.translate("一只可爱的猫在中间")
    assert "可爱" in result.unknown and result.attributes == {"position": "center"}
    assert result.english == "a shape in the middle"
    with pytest.raises(ValueError, match="empty"):
        zh.translate("  ")
