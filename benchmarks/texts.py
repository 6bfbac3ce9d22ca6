"""The benchmarks' generated inputs: seeded, so the same text every run, and nothing downloaded.

- `multilingual`: Shakespeare's lines with accents, and a sentence in one of eight scripts or emoji;
- `vietnamese`, `cjk_cyrillic`: paragraphs of real words of the language, drawn at random;
- `long_pieces`: "x" * n, n spaces and a base64 blob, each one piece (or nearly) to the split;
- `minified_code`, `minified_json`, `chinese_crlf`: files with few or no places to cut (issue 13);
- `corpus`: tinyshakespeare, then the standard library's own sources, for the scale rows;
- `head`, `line_chunks`: a text cut at line ends.
"""

from __future__ import annotations

import base64
import json
import pathlib
import random
import sysconfig

from npllm import data

MB = 1_000_000

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
ACCENTS = str.maketrans({"e": "é", "a": "à", "o": "ö", "c": "ç", "u": "ü", "n": "ñ"})

# The words the non-English texts are made of: real words, a few hundred per language. The
# sentences mean nothing; the words, their letters, accents and lengths, and so the pieces
# and tokens, are those of the language.
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
VIETNAMESE_SCRIPT = (VIETNAMESE_WORDS, " ", ",", (".", ".", ".", "?", "!"), True)
CJK_CYRILLIC_SCRIPTS = [
    (CHINESE_WORDS, "", "，", ("。", "。", "？", "！"), False),
    (JAPANESE_WORDS, "", "、", ("。", "。", "？"), False),
    (KOREAN_WORDS, " ", ",", (".", ".", "?"), False),
    (RUSSIAN_WORDS, " ", ",", (".", ".", "?", "!"), True),
]


def multilingual(shakespeare: str, n_bytes: int) -> str:
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


def mostly_ascii(shakespeare: str, every: int = 500) -> str:
    """Shakespeare with a curly apostrophe and "s" after every `every`-th word: English as it
    is often typed, ASCII but for a few characters. mostly_ascii("a b c", 2) -> 'a’s b c’s'"""
    words = shakespeare.split(" ")
    return " ".join(word + "’s" if i % every == 0 else word for i, word in enumerate(words))


def vietnamese(n_bytes: int, seed: int = 0) -> str:
    """About `n_bytes` of UTF-8: paragraphs (one per line) of 3-8 sentences of VIETNAMESE_WORDS.
    vietnamese(60)[:40] -> 'Cửa ra, chiều những bến vào trong bác mư' (seed 0)"""
    return _paragraphs(n_bytes, [VIETNAMESE_SCRIPT], (3, 8), random.Random(seed))


def cjk_cyrillic(n_bytes: int, seed: int = 0) -> str:
    """About `n_bytes` of UTF-8: paragraphs of 2-6 sentences, each paragraph in one of Chinese,
    Japanese, Korean and Russian, chosen at random. Chinese and Japanese have no spaces, as in print."""
    return _paragraphs(n_bytes, CJK_CYRILLIC_SCRIPTS, (2, 6), random.Random(seed))


def _paragraphs(n_bytes: int, scripts: list[tuple], sentences: tuple[int, int], rng: random.Random) -> str:
    paragraphs, size = [], 0
    while size < n_bytes:
        words, joiner, comma, ends, capitalize = rng.choice(scripts) if len(scripts) > 1 else scripts[0]
        chosen = [_sentence(rng, words, joiner, comma, ends, capitalize) for _ in range(rng.randint(*sentences))]
        paragraph = (" " if joiner else "").join(chosen)
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


def long_pieces(x_chars: int, space_chars: int, base64_chars: int) -> list[tuple[str, str]]:
    """(label, text): one piece of "x", one run of spaces, a base64 blob (a few long pieces)."""
    blob = base64.b64encode(random.Random(0).randbytes(base64_chars * 3 // 4)).decode("ascii")
    return [
        (f'"x" * {x_chars:_}', "x" * x_chars),
        (f'" " * {space_chars:_}', " " * space_chars),
        (f"base64 blob, {len(blob):_} chars", blob),
    ]


def minified_code(n_bytes: int, seed: int = 0) -> str:
    """One line of identifiers, numbers and operators with no space and no line end."""
    rng = random.Random(seed)
    names = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 8))) for _ in range(500)]
    ops = ["=", "+", "-", "*", "(", ")", "{", "}", "[", "]", ";", ",", ".", "&&", "||", "!==", "=>", ":", "?"]
    parts, size = [], 0
    while size < n_bytes:
        k = rng.random()
        part = rng.choice(names) if k < 0.5 else str(rng.randrange(1000)) if k < 0.6 else rng.choice(ops)
        parts.append(part)
        size += len(part)
    return "".join(parts)[:n_bytes]


def minified_json(n_bytes: int, seed: int = 0) -> str:
    """json.dumps of records with separators=(",", ":"): no space, no line end."""
    rng = random.Random(seed)
    records, size = [], 0
    while size < n_bytes:
        record = {
            "id": rng.randrange(10**6),
            "name": "".join(rng.choices("abcdefghijkl", k=rng.randint(3, 12))),
            "tags": rng.sample(["x", "yz", "new", "old", "中文"], 2),
            "score": round(rng.random(), 4),
            "ok": rng.random() < 0.5,
        }
        records.append(record)
        size += len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) + 1
    return json.dumps(records, separators=(",", ":"), ensure_ascii=False)


def chinese_crlf(n_bytes: int) -> str:
    """Short lines of Chinese, each ended by CRLF."""
    lines = ["我能吞下玻璃而不伤身体。", "今天的天气很好，我们去公园散步吧", "第一百二十三章", "他说：“你好！”"]
    out, size, i = [], 0, 0
    while size < n_bytes:
        out.append(lines[i % len(lines)] + "\r\n")
        size += len(out[-1].encode("utf-8"))
        i += 1
    return "".join(out)


def corpus(mb: float) -> bytes:
    """tinyshakespeare, then the standard library's sources sorted by path (its tests included,
    a file that is not UTF-8 left out), at least `mb` MB of UTF-8, or all there is."""
    parts = [data.path("tinyshakespeare.txt").read_bytes()]
    size = len(parts[0])
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if size >= mb * MB:
            break
        if "site-packages" in path.parts:
            continue
        try:
            parts.append(path.read_bytes().decode("utf-8").encode("utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
        size += len(parts[-1]) + 2
    return b"\n\n".join(parts)


def head(text: str, chars: int) -> str:
    """The first `chars` characters, cut back to the end of a line."""
    if chars >= len(text):
        return text
    cut = text.rfind("\n", 0, chars)
    return text[: cut + 1] if cut >= 0 else text[:chars]


def line_chunks(text: str, n: int) -> list[str]:
    """`text` in about `n` pieces of similar size, each ending at a line end; "".join gives it back."""
    chunks, current, length = [], [], 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        length += len(line)
        if length >= len(text) / n:
            chunks.append("".join(current))
            current, length = [], 0
    if current:
        chunks.append("".join(current))
    return chunks
