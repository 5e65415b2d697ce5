from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nlu import embedded
from nlu.embedded import (
    EmbeddedEngine,
    artefact_name,
    feature_text,
    fingerprint,
    load_or_train,
)
from nlu.lexicon import DEFAULT_DATA_DIR, DEFAULT_LEXICON_DIR
from nlu.parsed import CATEGORIES, INTENTS, Language
from nlu.training_data import load_training_data

# Clear messages written for this test, not taken from the training data.
ZH_CLEAR = [
    ("江苏路上有个井盖不见了，晚上走路很危险", "report_issue"),
    ("我们小区的暖气到现在还是冰凉的", "report_issue"),
    ("楼下垃圾堆了一个星期没人清运", "report_issue"),
    ("八十岁以上老人的高龄津贴一个月发多少钱", "ask_policy"),
    ("办残疾证需要带哪些材料", "ask_policy"),
    ("我想帮我奶奶预约下周二上午的上门护理", "book_eldercare"),
    ("能不能给我爸约个上门体检", "book_eldercare"),
    ("我上周反映的路灯问题现在处理得怎么样了", "check_status"),
    ("工单20261115-0021到现在还没人联系我", "check_status"),
    ("我们八廓街这片的网格员是谁，怎么联系", "find_staff"),
    ("社区的家庭医生电话是多少", "find_staff"),
    ("太感谢你们了", "thank"),
    ("取消这个预约吧", "cancel"),
    ("你能帮我做什么", "help"),
    ("明天拉萨天气怎么样", "out_of_scope"),
]

BO_CLEAR = [
    ("ཁང་པའི་ནང་ལ་ཆུ་ཡོང་གི་མི་འདུག ཉིན་གཉིས་སོང་།", "report_issue"),
    ("ཁྱིམ་མཚེས་ཀྱིས་མཚན་མོ་ཚང་མ་སྒྲ་ཆེན་པོ་བཏང་གི་འདུག གཉིད་ཁུག་ཐབས་མི་འདུག", "report_issue"),
    ("ང་ཚོའི་སྡོད་ཁུལ་གྱི་གད་སྙིགས་ཉིན་ལྔ་རིང་སུས་ཀྱང་ཁྱེར་མ་སོང་།", "report_issue"),
    ("རྒན་གསོའི་འཚོ་སྣོན་ཟླ་རེར་ག་ཚོད་ཐོབ་ཀྱི་རེད།", "ask_policy"),
    ("སྨན་བཅོས་ཉེན་སྲུང་ལོ་རེར་སྒོར་མོ་ག་ཚོད་སྤྲོད་དགོས་རེད།", "ask_policy"),
    ("ཨ་མ་ལགས་ལ་སང་ཉིན་ཉིན་གུང་ཁ་ལག་སྐྱེལ་རོགས།", "book_eldercare"),
    ("ཨ་ཕ་ལགས་ལ་ཁྲག་ཤེད་ཚད་འཇལ་བར་ཁྱིམ་ལ་ཕེབས་ཐུབ་བམ།", "book_eldercare"),
    ("ངས་ཁ་སང་ཕུལ་བའི་ཞུ་སྙན་གྱི་གནས་ཚུལ་ག་འདྲ་འདུག", "check_status"),
    ("ཞུ་སྙན་ཨང་གྲངས་ 20261119-0021 ཐག་གཅོད་བྱས་ཚར་སོང་ངམ།", "check_status"),
    ("ང་ཚོའི་སྡོད་ཁུལ་གྱི་དྲ་མིག་ལས་བྱེད་པ་སུ་རེད།", "find_staff"),
    ("ཁྱེད་ཚོར་ཐུགས་རྗེ་ཆེ་ཆེ་ཞུ།", "thank"),
    ("ཡག་པོ། ག་ལེར་ཕེབས་ལགས།", "goodbye"),
    ("ཐོ་འགོད་དེ་ཕྱིར་འཐེན་གནང་རོགས།", "cancel"),
    ("ལས་བྱེད་པ་ཞིག་དང་ཁ་པར་ཐོག་ནས་སྐད་ཆ་ཤོད་འདོད།", "request_human"),
    ("སང་ཉིན་ལྷ་སར་གནམ་གཤིས་ག་འདྲ་ཡོང་གི་རེད།", "out_of_scope"),
]

CATEGORIES_CLEAR = [
    ("江苏路上有个井盖不见了，晚上走路很危险", "road"),
    ("我们小区的暖气到现在还是冰凉的", "heating"),
    ("楼下垃圾堆了一个星期没人清运", "sanitation"),
    ("隔壁装修天天从早到晚电钻响个不停", "neighborhood"),
    ("ཁང་པའི་ནང་ལ་ཆུ་ཡོང་གི་མི་འདུག ཉིན་གཉིས་སོང་།", "water"),
    ("ཁྱིམ་མཚེས་ཀྱིས་མཚན་མོ་ཚང་མ་སྒྲ་ཆེན་པོ་བཏང་གི་འདུག གཉིད་ཁུག་ཐབས་མི་འདུག", "neighborhood"),
    ("ང་ཚོའི་སྡོད་ཁུལ་གྱི་གད་སྙིགས་ཉིན་ལྔ་རིང་སུས་ཀྱང་ཁྱེར་མ་སོང་།", "sanitation"),
    ("ལམ་ཁར་དོང་ཆེན་པོ་ཞིག་འདུག རྒན་པ་ཚོ་འགྱེལ་ཉེན་འདུག", "road"),
]


@pytest.fixture(scope="module")
def training_texts() -> set[str]:
    return {e.text for e in load_training_data(DEFAULT_DATA_DIR)}


@pytest.mark.parametrize(("text", "intent"), ZH_CLEAR)
def test_clear_chinese_messages_get_the_right_intent(
    engine: EmbeddedEngine, training_texts: set[str], text: str, intent: str
) -> None:
    assert text not in training_texts, "pick a test sentence that is not training data"
    parsed = engine.parse_sync(text)
    assert parsed.intent.name == intent
    assert parsed.intent.confidence >= 0.4
    assert parsed.language is Language.ZH


@pytest.mark.parametrize(("text", "intent"), BO_CLEAR)
def test_clear_tibetan_messages_get_the_right_intent(
    engine: EmbeddedEngine, training_texts: set[str], text: str, intent: str
) -> None:
    assert text not in training_texts, "pick a test sentence that is not training data"
    parsed = engine.parse_sync(text)
    assert parsed.intent.name == intent
    assert parsed.intent.confidence >= 0.4
    assert parsed.language is Language.BO


@pytest.mark.parametrize(("text", "category"), CATEGORIES_CLEAR)
def test_problems_get_a_category(engine: EmbeddedEngine, text: str, category: str) -> None:
    parsed = engine.parse_sync(text)
    assert parsed.intent.name == "report_issue"
    assert parsed.category == category
    assert 0.0 < parsed.category_confidence <= 1.0
    assert engine.classify_category(text)[0] == category


def test_category_is_only_set_for_problem_reports(engine: EmbeddedEngine) -> None:
    parsed = engine.parse_sync("社区的家庭医生电话是多少")
    assert parsed.category is None
    assert parsed.category_confidence == 0.0
    name, confidence = engine.classify_category("路灯不亮")
    assert name in CATEGORIES
    assert 0.0 < confidence <= 1.0


def test_ranking_is_the_top_five_sorted_with_probabilities(engine: EmbeddedEngine) -> None:
    parsed = engine.parse_sync("我想约一下明天中午的送餐")
    ranking = parsed.intent_ranking
    assert len(ranking) == 5
    assert ranking[0] == parsed.intent
    assert [i.confidence for i in ranking] == sorted((i.confidence for i in ranking), reverse=True)
    assert {i.name for i in ranking} <= set(INTENTS)
    assert sum(i.confidence for i in engine.classify_intent("我想约送餐")) == pytest.approx(1.0)


def test_parse_carries_entities_and_hazard(engine: EmbeddedEngine) -> None:
    parsed = engine.parse_sync("纳金路有根电线掉下来了，我的电话13908912345")
    assert parsed.hazard == "fallen_wire"
    phone = parsed.entity("phone")
    assert phone is not None
    assert phone.value == "13908912345"
    assert parsed.intent.name == "report_issue"
    assert parsed.category == "power"


async def test_async_parse_equals_sync_parse(engine: EmbeddedEngine) -> None:
    text = "下周三上午能来打扫卫生吗"
    assert (await engine.parse(text)).as_json() == engine.parse_sync(text).as_json()


def test_empty_text_is_out_of_scope_with_zero_confidence(engine: EmbeddedEngine) -> None:
    parsed = engine.parse_sync("   ")
    assert parsed.intent.name == "out_of_scope"
    assert parsed.intent.confidence == 0.0
    assert parsed.language is Language.UNKNOWN


def test_feature_text_folds_digits_punctuation_and_tsheg() -> None:
    assert feature_text("电话：13908912345！") == "电话 00000000000"
    assert feature_text("ＡＢ 886") == "ab 886"
    assert feature_text("བཀྲ༌ཤིས། ༡༢") == "བཀྲ་ཤིས 12"


# --- artefact cache -----------------------------------------------------------------------


def test_load_or_train_reuses_the_saved_artefact(
    engine: EmbeddedEngine, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = model_dir / artefact_name(fingerprint(DEFAULT_DATA_DIR))
    assert path.exists()
    assert path.stat().st_mode & 0o044 == 0o044  # readable by the service's user too
    mtime = path.stat().st_mtime_ns

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("retrained although the artefact matches")

    monkeypatch.setattr(embedded, "train", no_training)
    again = load_or_train(DEFAULT_DATA_DIR, model_dir)
    assert path.stat().st_mtime_ns == mtime
    assert again.model.fingerprint == engine.model.fingerprint
    text = "我们小区的暖气到现在还是冰凉的"
    assert again.parse_sync(text).as_json() == engine.parse_sync(text).as_json()


SMALL_ZH = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - 你好
    - 您好
    - 扎西德勒
    - 早上好
- intent: report_issue
  metadata:
    category: streetlight
  examples: |
    - 路灯坏了
    - 路灯不亮
    - 楼下路灯一闪一闪
- intent: report_issue
  metadata:
    category: water
  examples: |
    - 停水了
    - 水管爆了
    - 自来水发黄
"""


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "zh").mkdir(parents=True)
    (data / "zh" / "small.yml").write_text(SMALL_ZH, encoding="utf-8")
    shutil.copytree(DEFAULT_LEXICON_DIR, data / "lexicon")
    return data


def test_changed_data_or_lexicon_means_a_new_fingerprint_and_a_retrain(
    small_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    calls: list[Path] = []
    real_train = embedded.train

    def counting_train(data_dir: Path, split: str = "all") -> embedded.EmbeddedModel:
        calls.append(data_dir)
        return real_train(data_dir, split)

    monkeypatch.setattr(embedded, "train", counting_train)
    first = load_or_train(small_data, models)
    load_or_train(small_data, models)
    assert len(calls) == 1
    assert first.model.fingerprint == fingerprint(small_data)
    assert first.parse_sync("路灯不亮了").category == "streetlight"

    (small_data / "zh" / "small.yml").write_text(SMALL_ZH + "    - 没有水\n", encoding="utf-8")
    second = load_or_train(small_data, models)
    assert len(calls) == 2
    assert second.model.fingerprint != first.model.fingerprint
    (small_data / "lexicon" / "services.yml").write_text("{}\n", encoding="utf-8")
    assert fingerprint(small_data) != second.model.fingerprint
    # only the current artefact stays; no temporary files are left behind
    assert [p.name for p in models.iterdir()] == [second.model.artefact_name]


def test_a_corrupt_artefact_is_replaced_by_a_fresh_one(small_data: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    path = models / artefact_name(fingerprint(small_data))
    path.write_bytes(b"not a pickle")
    engine = load_or_train(small_data, models)
    assert engine.parse_sync("停水了").intent.name == "report_issue"
    assert path.stat().st_size > 100


LEARNED_ZH = """\
version: "3.1"
nlu:
- intent: book_eldercare
  examples: |
    - 我想约[长寿饭]{"entity": "service", "value": "meal"}
    - 给我妈订[长寿饭]{"entity": "service", "value": "meal"}，明天
    - 约一下[家政]{"entity": "service", "value": "housekeeping"}
- intent: greet
  examples: |
    - 你好
    - 扎西德勒
    - 您好啊
"""


def test_annotated_synonyms_are_learned_like_rasa_synonyms(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "zh").mkdir(parents=True)
    (data / "zh" / "learned.yml").write_text(LEARNED_ZH, encoding="utf-8")
    shutil.copytree(DEFAULT_LEXICON_DIR, data / "lexicon")
    engine = load_or_train(data, tmp_path / "models")
    assert engine.model.synonyms["service"]["meal"] == ["长寿饭"]
    text = "帮我约长寿饭"  # a form that only the training data knows
    service = engine.parse_sync(text).entity("service")
    assert service is not None
    assert (service.value, text[service.start : service.end]) == ("meal", "长寿饭")
