"""Encoding speed: npllm's `encode_ordinary` against tiktoken's, and the merge loops against each other.

For gpt2, cl100k_base and o200k_base, on tinyshakespeare.txt unless said otherwise:

- warm: the same Encoding after one untimed pass (every piece already in its cache) against
  tiktoken's `encode_ordinary` (Rust, one thread). Target: npllm / tiktoken <= 1.0.
- cold: a fresh Encoding per run, built before the clock starts; only its first encode of the
  file is timed (every distinct piece goes through the merge loop once). Target <= 2.5.
- encode_to_numpy: warm, against npllm's own `encode` (target: no slower) and tiktoken's.
- multilingual: ~200 KB of Shakespeare mixed with sentences in eight scripts and emoji,
  warm. Target <= 1.0 (non-ASCII text takes the `regex` split, not the `re` one).
- non-English, warm: ~1 MB of Vietnamese, and ~1 MB of Chinese, Japanese, Korean and Russian
  paragraphs, each made up (no download) from a fixed list of a few hundred real words of
  the language, drawn by a seeded generator, with commas, sentence ends and line ends.
  Target <= 1.0. Beside each, the floor of a warm encode, two rows against tiktoken's whole
  encode: the split alone (`text.split(" ")`, the only split of a warm pass over cached
  words, npllm/bpe/spaced.py) and the lookup alone (one dict lookup per word, the IDs joined).
- long pieces: "x" * 100_000, 1 MB of spaces, a 1 MB base64 blob; cold, in seconds per MB,
  against npllm's own cold ordinary-text seconds per MB (target: within 10x) and tiktoken's.
- batch: tinyshakespeare cut into 64 chunks at line boundaries, repeated to ~4 MB;
  `encode_ordinary_batch(num_threads=2)` against a sequential loop and tiktoken's batch.
- merge loops (gpt2 ranks): `merge_long` against `merge_short` on random pieces of 16-1024
  bytes, to check `LONG_PIECE` in npllm/bpe/merge.py against data.

Every input is checked equal to tiktoken's IDs before anything is timed. Without tiktoken
the npllm figures are still measured and the rows say the baseline was skipped.

Quick mode (`QUICK` below): 3 runs, 1/8 of the text, inputs a tenth to a twentieth the size,
the batch rows for gpt2 only (one copy of the text, just over PARALLEL_MIN_CHARS), and merge
pieces of 32-256 bytes.
"""

from __future__ import annotations

import base64
import functools
import operator
import os
import random
from dataclasses import dataclass

import npllm
from benchmarks.common import MB, Result, progress, scale, timeit
from npllm import data
from npllm.bpe import encoding as npllm_encoding
from npllm.bpe.merge import LONG_PIECE, merge_long, merge_short

ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")
WARM_TARGET = 1.0  # npllm warm / tiktoken
MULTILINGUAL_TARGET = 1.0  # the same, on non-ASCII text
NON_ENGLISH_TARGET = 1.0  # the same, on Vietnamese and on the CJK/Cyrillic mix
TO_NUMPY_TARGET = 1.0  # encode_to_numpy / encode, both npllm
COLD_TARGET = 2.5  # npllm cold / tiktoken
LONG_TARGET = 10.0  # long-piece s/MB / ordinary-text cold s/MB
BATCH_WORKERS = 2
BATCH_CHUNKS = 64
MERGE_ALPHABET = b"abcde"  # few letters: many merges per piece, as in a long word or blob

# Fixed sentences mixed into Shakespeare for the non-ASCII input, one per script.
MULTILINGUAL = [
    "Le cœur a ses raisons que la raison ne connaît point. Où est la bibliothèque ? À bientôt !",
    "Größere Übungen fördern die Geschwindigkeit, sagte der Bäcker aus Köln, während er aß.",
    "Tiếng Việt có sáu thanh: ngang, sắc, huyền, hỏi, ngã, nặng. Tôi yêu tiếng nước tôi.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю. Москва не сразу строилась.",
    "我能吞下玻璃而不伤身体。今天的天气很好，我们去公园散步吧，然后喝一杯茶。",
    "أنا قادر على أكل الزجاج و هذا لا يؤلمني. العلم نور والجهل ظلام.",
    "मैं काँच खा सकता हूँ और मुझे उससे कोई चोट नहीं पहुंचती। भारत एक विशाल देश है।",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Η γλώσσα μου έδωσαν ελληνική.",
    "Ship it 🚀🚀 — tests pass ✅, coffee ☕, a family 👨‍👩‍👧‍👦 and flags 🇫🇷🇩🇪🇻🇳🇮🇳 🎉",
]
# The words the non-English texts are made of: real words, a few hundred per language, drawn
# at random (seeded) into sentences. The sentences mean nothing; the words, their letters,
# accents and lengths, and so the pieces and tokens, are those of the language.
VIETNAMESE_WORDS = """
tôi bạn anh chị em ông bà cha mẹ con cháu chúng ta họ người nhà cửa đường
phố thành làng xã nước việt nam hà nội sài gòn huế đà nẵng học sinh giáo viên
trường lớp sách vở bút bàn ghế bảng ăn uống ngủ đi đến về làm việc chơi nói
nghe nhìn thấy biết hiểu yêu thương ghét sợ vui buồn đẹp xấu tốt lớn nhỏ cao thấp
dài ngắn mới cũ nóng lạnh ấm mát xa gần nhanh chậm nhiều ít trời đất mưa nắng
gió bão mây sông núi biển rừng cây hoa lá quả cỏ đồng ruộng lúa gạo cơm phở
bánh mì cà phê trà sữa mắm rau thịt cá gà vịt heo bò trứng muối chanh ớt
tỏi một hai ba bốn năm sáu bảy tám chín mười trăm nghìn triệu đầu tiên cuối cùng
giữa trong ngoài trên dưới trước sau bên cạnh và với của cho từ tại vì nên nhưng
hoặc hay nếu thì mà là có không được bị đã đang sẽ vẫn còn cũng rất quá
lắm hơn nhất chỉ luôn thường đôi khi bao giờ hôm nay ngày mai qua sáng trưa chiều
tối đêm tuần tháng mùa xuân hạ thu đông tết gia đình bè hàng xóm nghiệp công ty
văn phòng bệnh viện chợ siêu thị ngân máy tính điện thoại mạng internet chương trình dữ liệu
mô hình ngôn ngữ trí tuệ nhân tạo câu chuyện bài hát bộ phim trò thể thao bóng
đá âm nhạc hội họa lịch sử địa lý khoa toán vật hóa kinh tế chính trị dục
y môi suy nghĩ cảm mong muốn hy vọng quyết định bắt kết thúc tiếp tục thay đổi
phát triển xây dựng bảo vệ giúp đỡ chăm sóc tìm kiếm nghiên cứu thảo luận giải thích
trả lời hỏi đáp đọc viết vẽ múa chạy nhảy bơi leo đứng ngồi nằm mở đóng mua
bán tiền gửi nhận xe đạp ô tô tàu hỏa bay thuyền cầu bến cảng sân ga khách
sạn quê hương dân tộc tự do độc lập hạnh phúc hòa bình tình niềm tin sức khỏe
tật thuốc bác sĩ tá khám chữa đau mệt mạnh yếu ốm vẻ những các mọi mỗi từng
cả nào đâu gì sao thế này kia ấy đó vậy rồi nữa lại ra vào lên xuống
tiếng chữ ý nghĩa pháp dấu thanh sắc huyền ngã nặng
""".split()  # everyday words and syllables, tones and all

CHINESE_WORDS = """
我们 你们 他们 今天 明天 昨天 学习 工作 生活 朋友 家庭 学校 老师 学生 中国 北京
上海 城市 农村 天气 很好 非常 喜欢 知道 认为 觉得 可以 应该 已经 正在 开始 结束
问题 方法 时间 地方 世界 经济 社会 文化 历史 科学 技术 电脑 手机 网络 语言 文字
汉字 书 水 山 河 花 树 人 心 手 吃饭 喝茶 睡觉 走路 看书 写字
说话 听音乐 唱歌 跳舞 旅行 公园 散步 商店 医院 银行 火车 飞机 春天 夏天 秋天 冬天
早上 中午 晚上 一 二 三 十 百 千 万 大 小 多 少 新 旧
好 美丽 快乐
""".split()  # written without spaces between them

JAPANESE_WORDS = """
わたし あなた 今日 明日 昨日 学校 先生 学生 日本 東京 大阪 電車
新幹線 ご飯 お茶 水 山 川 花 桜 です ます でした ません
食べる 飲む 行く 来る 見る 聞く 話す 読む 書く 勉強 仕事 友達
家族 とても 少し たくさん きれい 静か 元気 大きい 小さい 新しい 古い 天気
雨 雪 風 空 海 時間 世界 コンピューター インターネット スマートフォン ラーメン カメラ
テレビ ニュース ホテル レストラン
""".split()  # kanji, hiragana, katakana; no spaces either

KOREAN_WORDS = """
저는 당신 우리 그들 오늘 내일 어제 학교 선생님 학생 한국 서울 부산 사람 친구 가족
집 물 산 강 먹다 마시다 가다 오다 보다 듣다 말하다 읽다 쓰다 공부 일 시간
세계 날씨 비 눈 바람 하늘 바다 아주 조금 많이 예쁘다 조용하다 크다 작다 새롭다 좋아요
감사합니다 안녕하세요 사랑 행복 음악 컴퓨터 인터넷 전화 버스 지하철 시장 병원 은행 식당 커피 김치
밥 한글 언어 문화 역사
""".split()  # Hangul, spaces between words

RUSSIAN_WORDS = """
я ты он она мы вы они это что как где когда почему потому и а
но или если то не да нет дом город улица страна москва россия люди человек друг
семья мать отец сын дочь брат сестра работа учёба школа учитель студент книга слово язык время
день ночь утро вечер неделя год хороший плохой большой маленький новый старый красивый быстрый медленный горячий
холодный говорить читать писать слушать смотреть видеть знать думать любить жить идти ехать работать вода хлеб
молоко чай кофе мясо рыба яблоко снег дождь ветер солнце небо море река лес поле сегодня
завтра вчера всегда никогда часто редко очень много мало уже ещё только тоже также компьютер интернет
телефон программа данные модель история культура наука музыка погода
""".split()  # Cyrillic

# (words, what joins two words, comma, sentence ends, capitalize the first word)
CJK_CYRILLIC_SCRIPTS = [
    (CHINESE_WORDS, "", "，", ("。", "。", "？", "！"), False),
    (JAPANESE_WORDS, "", "、", ("。", "。", "？"), False),
    (KOREAN_WORDS, " ", ",", (".", ".", "?"), False),
    (RUSSIAN_WORDS, " ", ",", (".", ".", "?", "!"), True),
]

ACCENTS = str.maketrans({"e": "é", "a": "à", "o": "ö", "c": "ç", "u": "ü", "n": "ñ"})


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed runs per figure
    text_fraction: int  # use 1/text_fraction of tinyshakespeare for warm and cold
    multilingual_bytes: int
    non_english_bytes: int  # of each generated text (Vietnamese, the CJK/Cyrillic mix)
    x_chars: int
    space_chars: int
    base64_chars: int
    batch_bytes: int
    batch_encodings: tuple[str, ...]  # the encodings whose batch rows run
    merge_bytes: int  # bytes of random pieces per merge timing
    merge_lengths: tuple[int, ...]  # bytes per piece


FULL = Sizes(
    5,
    1,
    200_000,
    1_000_000,
    100_000,
    1_000_000,
    1_000_000,
    4_000_000,
    ENCODINGS,
    64_000,
    (16, 32, 64, 128, 256, 512, 1024),
)
QUICK = Sizes(
    3,
    8,
    50_000,
    125_000,
    10_000,
    50_000,
    50_000,
    1_100_000,
    ("gpt2",),
    6_000,  # batch: > PARALLEL_MIN_CHARS
    (32, 64, 128, 256),
)


def run(quick: bool, profile: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    tiktoken, why_not = _import_tiktoken()
    full_text = data.path("tinyshakespeare.txt").read_text(encoding="utf-8")
    text = _head(full_text, len(full_text) // sizes.text_fraction)
    foreign = [  # (label, text)
        ("Vietnamese", vietnamese_text(sizes.non_english_bytes)),
        ("CJK/Cyrillic mix", cjk_cyrillic_text(sizes.non_english_bytes)),
    ]
    results = []
    for name in ENCODINGS:
        ref, why = (None, why_not) if tiktoken is None else _tiktoken_encoding(tiktoken, name)
        results += _encoding_rows(name, ref, why, text, full_text, sizes, tiktoken)
        results += _non_english_rows(name, ref, why, foreign, sizes)
    results += _merge_rows(sizes)
    return results


# --- one encoding ----------------------------------------------------------------------------


def _encoding_rows(name, ref, why_skipped, text, full_text, sizes, tiktoken) -> list[Result]:
    """Warm, cold, multilingual, long pieces and batch rows for one encoding."""
    enc = npllm.get_encoding(name)
    model = dict(pat_str=enc.pat_str, mergeable_ranks=enc.mergeable_ranks, special_tokens=enc.special_tokens)

    def fresh() -> npllm.Encoding:  # a new Encoding with an empty piece cache
        return npllm.Encoding(name, **model)

    def fresh_ref():  # a new tiktoken Encoding: the same, for tiktoken's cold runs
        return tiktoken.Encoding(
            name,
            pat_str=ref._pat_str,
            mergeable_ranks=ref._mergeable_ranks,
            special_tokens=ref._special_tokens,
        )

    skipped = f"skipped: {why_skipped}"
    repeat = sizes.repeat
    label = "tinyshakespeare" if sizes.text_fraction == 1 else f"tinyshakespeare 1/{sizes.text_fraction}"
    text_mb = len(text.encode("utf-8")) / MB
    rows = []

    # warm and cold, ordinary English
    warm_enc = fresh()
    _check(name, label, text, warm_enc.encode_ordinary(text), ref)  # also the untimed warming pass
    progress(f"{name}: warm")
    warm = timeit(lambda: warm_enc.encode_ordinary(text), repeat)
    ref_warm = timeit(lambda: ref.encode_ordinary(text), repeat) if ref else None
    rows.append(
        Result(
            f"encode_ordinary warm, {name}, {label} ({text_mb:.2f} MB)",
            warm,
            "tiktoken encode_ordinary (1 thread)",
            ref_warm,
            target=WARM_TARGET,
            note="same Encoding after one untimed pass" + _cache_size(warm_enc) + ("" if ref else f"; {skipped}"),
            profile=lambda: lambda: warm_enc.encode_ordinary(text),
        )
    )

    progress(f"{name}: encode_to_numpy")
    if not (warm_enc.encode_to_numpy(text) == warm_enc.encode(text)).all():  # also warms its array cache
        raise AssertionError(f"{name}: encode_to_numpy differs from encode")
    as_list = timeit(lambda: warm_enc.encode(text), repeat)
    as_array = timeit(lambda: warm_enc.encode_to_numpy(text), repeat)
    rows.append(
        Result(
            f"encode_to_numpy warm, {name}, {label}",
            as_array,
            "npllm encode (a list of ints), warm",
            as_list,
            target=TO_NUMPY_TARGET,
            note="uint32 array joined from cached per-piece bytes; no list of ints built",
        )
    )
    ref_array = timeit(lambda: ref.encode_to_numpy(text), repeat) if ref else None
    rows.append(
        Result(
            f"encode_to_numpy warm, {name}, {label}",
            as_array,
            "tiktoken encode_to_numpy",
            ref_array,
            note="no target" + ("" if ref else f"; {skipped}"),
        )
    )

    progress(f"{name}: cold")
    cold = timeit(lambda e: e.encode_ordinary(text), repeat, warmup=0, setup=fresh)
    ref_cold = timeit(lambda e: e.encode_ordinary(text), repeat, warmup=0, setup=fresh_ref) if ref else None
    rows.append(
        Result(
            f"encode_ordinary cold, {name}, {label}",
            cold,
            "tiktoken encode_ordinary, fresh Encoding per run",
            ref_cold,
            target=COLD_TARGET,
            note="fresh Encoding per run, built before the clock; first encode timed" + ("" if ref else f"; {skipped}"),
            profile=lambda: _bound(fresh(), text),
        )
    )
    cold_per_mb = scale(cold, 1 / text_mb)

    # multilingual, warm
    mixed = _multilingual(full_text, sizes.multilingual_bytes)
    mixed_enc = fresh()
    _check(name, "multilingual", mixed, mixed_enc.encode_ordinary(mixed), ref)
    progress(f"{name}: multilingual")
    mixed_npllm = timeit(lambda: mixed_enc.encode_ordinary(mixed), repeat)
    mixed_ref = timeit(lambda: ref.encode_ordinary(mixed), repeat) if ref else None
    rows.append(
        Result(
            f"encode_ordinary warm, {name}, multilingual ({len(mixed.encode('utf-8')) / MB:.2f} MB)",
            mixed_npllm,
            "tiktoken encode_ordinary (1 thread)",
            mixed_ref,
            target=MULTILINGUAL_TARGET,
            note="non-ASCII text, so the `regex` split" + ("" if ref else f"; {skipped}"),
            profile=lambda: lambda: mixed_enc.encode_ordinary(mixed),
        )
    )

    # long pieces, cold, seconds per MB
    for piece_label, piece_text in _long_inputs(sizes):
        per_mb = MB / len(piece_text.encode("utf-8"))
        piece_ref, piece_skipped = ref, skipped
        panic = _tiktoken_panic(ref, piece_text)
        if panic:  # no IDs to compare with: npllm's are still timed
            piece_ref, piece_skipped = None, f"skipped: {panic}"
        _check(name, piece_label, piece_text, fresh().encode_ordinary(piece_text), piece_ref)
        progress(f"{name}: {piece_label}")
        npllm_figure = scale(timeit(lambda e: e.encode_ordinary(piece_text), repeat, warmup=0, setup=fresh), per_mb)
        ref_figure = scale(timeit(lambda: ref.encode_ordinary(piece_text), repeat), per_mb) if piece_ref else None
        rows.append(
            Result(
                f"long: {piece_label}, {name}, cold",
                npllm_figure,
                f"npllm encode_ordinary cold, {label}",
                cold_per_mb,
                unit="s/MB",
                target=LONG_TARGET,
                note="fresh Encoding per run; baseline measured in this run",
                profile=lambda piece_text=piece_text: _bound(fresh(), piece_text),
            )
        )
        rows.append(
            Result(
                f"long: {piece_label}, {name}, cold",
                npllm_figure,
                "tiktoken encode_ordinary",
                ref_figure,
                unit="s/MB",
                note="no target; tiktoken keeps no cache, so warm = cold" + ("" if piece_ref else f"; {piece_skipped}"),
            )
        )

    if name in sizes.batch_encodings:
        rows += _batch_rows(name, warm_enc, ref, skipped, full_text, sizes)
    return rows


def _non_english_rows(name, ref, why_skipped, foreign, sizes) -> list[Result]:
    """Warm rows on each generated non-English text, and the floor of a warm encode beside each."""
    skipped = f"skipped: {why_skipped}"
    repeat = sizes.repeat
    base = npllm.get_encoding(name)
    model = dict(pat_str=base.pat_str, mergeable_ranks=base.mergeable_ranks, special_tokens=base.special_tokens)
    rows = []
    for label, text in foreign:
        enc = npllm.Encoding(name, **model)  # a fresh one per text: empty caches
        where = f"{label} ({len(text.encode('utf-8')) / MB:.2f} MB)"
        _check(name, label, text, enc.encode_ordinary(text), ref)  # also the untimed first pass
        progress(f"{name}: {label}")
        warm = timeit(lambda: enc.encode_ordinary(text), repeat)  # its warm-up pass admits the words seen twice
        ref_warm = timeit(lambda: ref.encode_ordinary(text), repeat) if ref else None
        rows.append(
            Result(
                f"encode_ordinary warm, {name}, {where}",
                warm,
                "tiktoken encode_ordinary (1 thread)",
                ref_warm,
                target=NON_ENGLISH_TARGET,
                note="generated from real words, seeded; same Encoding after untimed passes"
                + ("" if ref else f"; {skipped}"),
                profile=lambda enc=enc, text=text: lambda: enc.encode_ordinary(text),
            )
        )
        words = getattr(enc, "_spaced_ids", None)  # word -> IDs (npllm/bpe/spaced.py)
        if not isinstance(words, dict):
            continue  # the word cache is not where it used to be: no floor to show
        parts = text.split(" ")[1:]  # the words after a space, as the warm pass looks them up
        split = timeit(lambda: text.split(" "), repeat)
        lookup = timeit(lambda: functools.reduce(operator.iconcat, filter(None, map(words.get, parts)), []), repeat)
        rows.append(
            Result(
                f"floor, split alone, {name}, {where}",
                split,
                "tiktoken encode_ordinary (1 thread)",
                ref_warm,
                note="text.split(' '): the one split of a warm encode; no target" + ("" if ref else f"; {skipped}"),
            )
        )
        rows.append(
            Result(
                f"floor, lookup alone, {name}, {where}",
                lookup,
                "tiktoken encode_ordinary (1 thread)",
                ref_warm,
                note=f"one word-cache lookup per word ({len(parts):,}), the IDs joined into one list; no target"
                + ("" if ref else f"; {skipped}"),
            )
        )
    return rows


def _batch_rows(name, enc, ref, skipped, full_text, sizes) -> list[Result]:
    chunks = _chunks(full_text, BATCH_CHUNKS)
    copies = max(1, round(sizes.batch_bytes / len(full_text.encode("utf-8"))))
    texts = chunks * copies
    total_mb = sum(len(t.encode("utf-8")) for t in texts) / MB
    sequential_ids = [enc.encode_ordinary(t) for t in texts]  # untimed: warms the parent's cache
    batch_ids = enc.encode_ordinary_batch(texts, num_threads=BATCH_WORKERS)
    if batch_ids != sequential_ids:
        raise AssertionError(f"{name}: encode_ordinary_batch differs from a loop of encode_ordinary")
    if ref is not None and ref.encode_ordinary_batch(texts, num_threads=BATCH_WORKERS) != batch_ids:
        raise AssertionError(f"{name}: npllm's encode_ordinary_batch differs from tiktoken's")

    progress(f"{name}: batch")
    repeat = sizes.repeat  # no warm-up runs: the checks above were the warm-up of all three
    batch = timeit(lambda: enc.encode_ordinary_batch(texts, num_threads=BATCH_WORKERS), repeat, warmup=0)
    loop = timeit(lambda: [enc.encode_ordinary(t) for t in texts], repeat, warmup=0)
    ref_batch = (
        timeit(lambda: ref.encode_ordinary_batch(texts, num_threads=BATCH_WORKERS), repeat, warmup=0) if ref else None
    )
    where = f"{len(texts)} texts, {total_mb:.2f} MB, warm"
    cores = f"{os.cpu_count()} cores"
    below = sum(map(len, texts)) < getattr(npllm_encoding, "PARALLEL_MIN_CHARS", 0)
    speedup = loop["median"] / batch["median"]
    return [
        Result(
            f"encode_ordinary_batch({BATCH_WORKERS} workers), {name}, {where}",
            batch,
            "npllm sequential loop of encode_ordinary",
            loop,
            note=f"speedup {speedup:.2f}x on {cores} (worker processes, forked from a warm cache)"
            + ("; below PARALLEL_MIN_CHARS: ran in-process" if below else ""),
        ),
        Result(
            f"encode_ordinary_batch({BATCH_WORKERS} workers), {name}, {where}",
            batch,
            f"tiktoken encode_ordinary_batch(num_threads={BATCH_WORKERS})",
            ref_batch,
            note="outputs checked equal" + ("" if ref else f"; {skipped}"),
        ),
    ]


# --- the merge loops -------------------------------------------------------------------------


def _merge_rows(sizes) -> list[Result]:
    """merge_long against merge_short per piece length; the crossover says where LONG_PIECE belongs."""
    ranks = npllm.get_encoding("gpt2")._mergeable_ranks  # bytes -> int
    rng = random.Random(0)
    rows = []
    ratios = {}  # piece length -> merge_long / merge_short
    profiled = min(
        (n for n in sizes.merge_lengths if n >= LONG_PIECE), default=None
    )  # the shortest length merge_long takes
    progress("merge_short vs merge_long")
    for n in sizes.merge_lengths:
        count = max(8, sizes.merge_bytes // n)
        pieces = [bytes(rng.choices(MERGE_ALPHABET, k=n)) for _ in range(count)]
        for piece in pieces:
            if merge_short(ranks, piece) != merge_long(ranks, piece):
                raise AssertionError(f"merge_short and merge_long disagree on {piece!r}")
        per_piece = 1e6 / count  # seconds per batch -> microseconds per piece
        long_figure = scale(timeit(lambda: [merge_long(ranks, p) for p in pieces], sizes.repeat), per_piece)
        short_figure = scale(timeit(lambda: [merge_short(ranks, p) for p in pieces], sizes.repeat), per_piece)
        ratios[n] = long_figure["median"] / short_figure["median"]
        chosen = "merge_long" if n >= LONG_PIECE else "merge_short"
        rows.append(
            Result(
                f"merge_long vs merge_short, {n}-byte pieces, gpt2",
                long_figure,
                "merge_short",
                short_figure,
                unit="us/piece",
                note=f"{count} random pieces over {MERGE_ALPHABET.decode()!r}; encode_piece uses {chosen}",
                profile=(lambda pieces=pieces: lambda: [merge_long(ranks, p) for p in pieces])
                if n == profiled
                else None,
            )
        )
    rows.append(Result("LONG_PIECE threshold", None, note=_crossover_note(ratios)))
    return rows


def _crossover_note(ratios: dict[int, float]) -> str:
    """Where merge_long starts to win for good: {64: 1.1, 128: 0.6, 256: 0.4} -> 128."""
    lengths = sorted(ratios)
    crossover = next((n for i, n in enumerate(lengths) if all(ratios[m] < 1 for m in lengths[i:])), None)
    if crossover is None:
        return f"merge_long never wins for good up to {lengths[-1]} bytes; LONG_PIECE = {LONG_PIECE} should rise"
    at_threshold = ratios.get(LONG_PIECE)  # merge_long / merge_short at LONG_PIECE bytes, if timed
    if crossover == LONG_PIECE or (crossover < LONG_PIECE and (at_threshold or 0) > 0.8):
        verdict = "keep it"
    elif crossover < LONG_PIECE:
        factor = f" (merge_long is {1 / at_threshold:.1f}x faster at {LONG_PIECE} bytes)" if at_threshold else ""
        verdict = f"consider LONG_PIECE = {crossover}{factor}"
    else:
        verdict = f"consider LONG_PIECE = {crossover} (merge_short is faster below it)"
    return f"merge_long faster from {crossover}-byte pieces up; LONG_PIECE = {LONG_PIECE} now: {verdict}"


# --- inputs ----------------------------------------------------------------------------------


def _head(text: str, chars: int) -> str:
    """The first `chars` characters, cut back to the end of a line."""
    if chars >= len(text):
        return text
    cut = text.rfind("\n", 0, chars)
    return text[: cut + 1] if cut >= 0 else text[:chars]


def _chunks(text: str, n: int) -> list[str]:
    """`text` in about `n` pieces of similar size, each ending at a line end; "".join gives it back."""
    lines = text.splitlines(keepends=True)
    size = len(text) / n
    chunks, current, length = [], [], 0
    for line in lines:
        current.append(line)
        length += len(line)
        if length >= size:
            chunks.append("".join(current))
            current, length = [], 0
    if current:
        chunks.append("".join(current))
    return chunks


def _multilingual(shakespeare: str, n_bytes: int) -> str:
    """Shakespeare lines, every 4th with accented letters, a fixed foreign sentence after every
    3rd: deterministic, about `n_bytes` of UTF-8."""
    out, size = [], 0  # lines; their UTF-8 bytes so far
    lines = shakespeare.splitlines()
    i = 0
    while size < n_bytes:
        line = lines[i % len(lines)]
        added = [line.translate(ACCENTS) if i % 4 == 3 else line]
        if i % 3 == 2:
            added.append(MULTILINGUAL[(i // 3) % len(MULTILINGUAL)])
        out += added
        size += sum(len(a.encode("utf-8")) + 1 for a in added)
        i += 1
    return "\n".join(out) + "\n"


def vietnamese_text(n_bytes: int, seed: int = 0) -> str:
    """About `n_bytes` of UTF-8: paragraphs (one per line) of 3-8 sentences of 4-14 words from
    VIETNAMESE_WORDS, a comma after about one word in eight. Seeded: the same text every run.
    vietnamese_text(60)[:40] -> 'Cửa ra, chiều những bến vào trong bác mư' (seed 0)"""
    rng = random.Random(seed)
    ends = (".", ".", ".", "?", "!")
    paragraphs, size = [], 0
    while size < n_bytes:
        paragraph = " ".join(_sentence(rng, VIETNAMESE_WORDS, " ", ",", ends, True) for _ in range(rng.randint(3, 8)))
        paragraphs.append(paragraph)
        size += len(paragraph.encode("utf-8")) + 1
    return "\n".join(paragraphs) + "\n"


def cjk_cyrillic_text(n_bytes: int, seed: int = 0) -> str:
    """About `n_bytes` of UTF-8: paragraphs (one per line) of 2-6 sentences, each paragraph in
    one of Chinese, Japanese, Korean and Russian (CJK_CYRILLIC_SCRIPTS), chosen at random.
    Chinese and Japanese sentences have no spaces, as in print. Seeded."""
    rng = random.Random(seed)
    paragraphs, size = [], 0
    while size < n_bytes:
        words, joiner, comma, ends, capitalize = rng.choice(CJK_CYRILLIC_SCRIPTS)
        sentences = [_sentence(rng, words, joiner, comma, ends, capitalize) for _ in range(rng.randint(2, 6))]
        paragraph = (" " if joiner else "").join(sentences)
        paragraphs.append(paragraph)
        size += len(paragraph.encode("utf-8")) + 1
    return "\n".join(paragraphs) + "\n"


def _sentence(rng: random.Random, words: list[str], joiner: str, comma: str, ends: tuple, capitalize: bool) -> str:
    """4-14 words joined by `joiner`, a comma after about one in eight, ended by one of `ends`."""
    chosen = rng.choices(words, k=rng.randint(4, 14))
    parts = []
    for i, word in enumerate(chosen):
        parts.append(word)
        if i < len(chosen) - 1:
            parts.append(comma + joiner if rng.random() < 0.12 else joiner)
    sentence = "".join(parts)
    if capitalize:
        sentence = sentence[:1].upper() + sentence[1:]
    return sentence + rng.choice(ends)


def _long_inputs(sizes) -> list[tuple[str, str]]:
    blob = base64.b64encode(random.Random(0).randbytes(sizes.base64_chars * 3 // 4)).decode("ascii")
    return [
        (f'"x" * {sizes.x_chars:_}', "x" * sizes.x_chars),
        (f'" " * {sizes.space_chars:_}', " " * sizes.space_chars),
        (f"base64 blob, {len(blob):_} chars", blob),
    ]


# --- helpers ---------------------------------------------------------------------------------


def _bound(enc, text):
    """The zero-argument call enc.encode_ordinary(text), with `enc` built already."""
    return lambda: enc.encode_ordinary(text)


def _cache_size(enc) -> str:
    """ "; 15057 cached pieces", or "" if the Encoding's piece cache is not where it used to be."""
    cache = getattr(enc, "_piece_ids", None)
    return f"; {len(cache)} cached pieces" if isinstance(cache, dict) else ""


def _import_tiktoken():
    try:
        import tiktoken
    except ImportError:
        return None, "tiktoken not installed"
    return tiktoken, ""


def _tiktoken_encoding(tiktoken, name):
    try:
        return tiktoken.get_encoding(name), ""
    except Exception as e:  # offline with an empty cache, say
        return None, f"tiktoken could not load {name} ({type(e).__name__}: {e})"


def _tiktoken_panic(ref, text: str) -> str:
    """ "" when tiktoken encodes `text`, else what went wrong. Its Rust core can panic, which
    Python sees as pyo3's PanicException, a BaseException: tiktoken 0.14 overflows its stack
    on 1 MB of spaces with o200k's pattern."""
    if ref is None:
        return ""
    try:
        ref.encode_ordinary(text)
    except BaseException as e:  # noqa: BLE001 (PanicException is not an Exception)
        if type(e).__name__ != "PanicException":
            raise
        return f"tiktoken panicked ({str(e).splitlines()[0][:80]})"
    return ""


def _check(name: str, what: str, text: str, ids: list[int], ref) -> None:
    """npllm's IDs must equal tiktoken's: timing wrong output would mean nothing."""
    if ref is None:
        return
    expected = ref.encode_ordinary(text)
    if ids != expected:
        at = next((i for i, (a, b) in enumerate(zip(ids, expected)) if a != b), min(len(ids), len(expected)))
        raise AssertionError(
            f"{name}, {what}: npllm's IDs differ from tiktoken's at position {at} "
            f"(npllm {ids[at : at + 5]}, tiktoken {expected[at : at + 5]}; lengths {len(ids)}, {len(expected)})"
        )
