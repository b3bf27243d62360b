"""Realistic filled workbooks with injected mistakes, for the demo, the tests and the benchmark."""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from processor.findings import column_letter
from processor.rulepack.model import CodeTable, FieldSpec, RuleDef, RulePack, SheetSpec, fold_name

# ---------------------------------------------------------------------------------------------------
# Reference data (names, places, institutions). Division codes are real GB/T 2260 codes of 江西省.

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "涂熊游饶胡邬聂敖甘"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛")
MALE_CHARS = (
    "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发武新利清飞彬富顺信子"
    "杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮"
    "政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树炎德行时泰盛雄琛钧冠策腾楠榕风航弘"
)
FEMALE_CHARS = (
    "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉"
    "琼勤珍贞莉桂娣叶璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨韵园"
    "艺咏卿澜纯悦昭冰爽琬茗羽希欣育滢馥筠柔竹凝晓欢枫芸菲寒伊亚宜可舒影思丽"
)
# Characters real people carry that GBK lacks (GB18030 and UTF-8 carry them): 䶮 U+4DAE, 𠮷 U+20BB7.
RARE_CHARS = ("䶮", "𠮷")

# 江西省 counties whose codes were in force for most birth years 1962–2002 (GB/T 2260, see stdnum cn/loc).
JIANGXI_ID_COUNTIES = (
    "360121", "360122", "360102", "360103", "360104", "360111", "360123", "360124", "360202", "360203",
    "360302", "360313", "360402", "360403", "360423", "360424", "360425", "360426", "360428", "360430",
    "360502", "360521", "360602", "360622", "362101", "362121", "362123", "362131", "362132", "362133",
    "362201", "362221", "362222", "362226", "362301", "362321", "362322", "362329", "362330", "362401",
    "362421", "362425", "362502", "362521", "362522",
)
# Codes every birth year accepts (no start or end in the table): the safe fallback.
ALWAYS_VALID_COUNTIES = ("360121", "360100", "360200", "360300", "360400")

UNIVERSITIES = (
    ("江西师范大学", True), ("南昌大学", False), ("赣南师范大学", True), ("上饶师范学院", True),
    ("宜春学院", False), ("九江学院", False), ("井冈山大学", False), ("江西科技师范大学", True),
    ("南昌师范学院", True), ("东华理工大学", False), ("华东师范大学", True), ("华中师范大学", True),
    ("湖南师范大学", True), ("北京师范大学", True), ("江西财经大学", False), ("赣南科技学院", False),
)
COLLEGES = (
    ("江西师范高等专科学校", True), ("豫章师范学院", True), ("抚州幼儿师范高等专科学校", True),
    ("赣州师范高等专科学校", True), ("江西教育学院", True), ("九江职业大学", False),
)
SECONDARY = (("江西省南昌师范学校", True), ("江西省赣州师范学校", True), ("江西省上饶师范学校", True))

# (major, normal major?, GB/T 6864 discipline digit: 学士 4xx / 硕士 3xx / 博士 2xx)
MAJORS = (
    ("汉语言文学", True, "05"), ("数学与应用数学", True, "07"), ("英语", True, "05"), ("物理学", True, "07"),
    ("化学", True, "07"), ("生物科学", True, "07"), ("历史学", True, "06"), ("地理科学", True, "07"),
    ("思想政治教育", True, "03"), ("体育教育", True, "04"), ("音乐学", True, "05"), ("美术学", True, "05"),
    ("小学教育", True, "04"), ("学前教育", True, "04"), ("教育技术学", True, "04"), ("心理学", True, "04"),
    ("计算机科学与技术", False, "08"), ("会计学", False, "12"), ("汉语国际教育", False, "05"),
)

STREETS = ("八一大道", "阳明路", "北京西路", "红谷中大道", "站前路", "井冈山大道", "文教路", "解放路", "中山路",
           "人民路", "胜利路", "建设路", "青年路", "滨江路", "学府路", "广场南路")

TRAININGS = (
    ("10", "国培计划（{y}）—江西省乡村教师访名校培训项目", "江西师范大学", "1", 60),
    ("10", "国培计划（{y}）—骨干教师能力提升网络研修", "中国教师研修网", "3", 50),
    ("20", "江西省中小学教师信息技术应用能力提升工程2.0（{y}）", "江西省电化教育馆", "4", 50),
    ("20", "{y}年江西省中小学班主任培训", "江西教育学院", "2", 24),
    ("30", "{y}年{city}新课程标准专题培训", "{city}教育局教研室", "2", 16),
    ("40", "{y}年{county}暑期教师全员培训", "{county}教师进修学校", "2", 24),
    ("60", "{y}年{school}校本研修", "{school}", "2", 12),
    ("40", "{y}年{county}师德师风专题培训", "{county}教育体育局", "3", 10),
)

TITLES = ("正高级教师", "高级教师", "一级教师", "二级教师", "三级教师")
SUBJECTS = ("语文", "数学", "英语", "物理", "化学", "生物", "历史", "地理", "思想政治", "体育", "音乐", "美术",
            "信息技术", "科学", "道德与法治", "心理健康教育")

# ---------------------------------------------------------------------------------------------------
# Identity numbers (GB 11643-1999).

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def make_id_number(area: str, birth: date, sequence: int) -> str:
    """An 18-character identity number: area code, birth date, 3-digit sequence (odd = male), check."""
    first17 = f"{area}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_check_digit(first17)


def old_id_number(number18: str) -> str:
    """The 15-digit number a person born before 2000 may still carry (YYMMDD birth, no check character)."""
    return number18[:6] + number18[8:17]


def _area_valid_for(area: str, year: int) -> bool:
    """Whether stdnum's division history accepts the address code for a number issued to someone born then."""
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError

    try:
        ric.get_birth_place(f"{area}{year}0101000X")
    except ValidationError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------
# The person model.


@dataclass
class Person:
    """One teacher: the 基本信息 values and the records of the other categories, as normalised values.

    Coded values are the code as the national tables write it, or — for system lists whose codes are not
    confirmed — the name; the writer resolves both against the pack's tables. Months are 'YYYY-MM'."""

    name: str
    sex: str  # '1' 男 / '2' 女
    birth_date: date
    id_number: str
    basic: dict[str, Any]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # 'study', 'work', … → rows
    contact: dict[str, Any] = field(default_factory=dict)

    @property
    def id_type(self) -> str:
        return self.basic.get("id_type", "1")


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _month_add(m: str, months: int) -> str:
    y, mo = int(m[:4]), int(m[5:7])
    total = y * 12 + (mo - 1) + months
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def _month_min(a: str, b: str) -> str:
    return a if a <= b else b


def _random_month_between(rng: random.Random, lo: str, hi: str) -> str:
    ly, lm = int(lo[:4]), int(lo[5:7])
    hy, hm = int(hi[:4]), int(hi[5:7])
    span = (hy * 12 + hm) - (ly * 12 + lm)
    return _month_add(lo, rng.randint(0, max(span, 0)))


def random_name(rng: random.Random, sex: str, *, rare_rate: float = 0.004) -> str:
    """A Chinese name: a common surname (rarely a compound one) and one or two given-name characters."""
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choice(SURNAMES)
    chars = MALE_CHARS if sex == "1" else FEMALE_CHARS
    given = "".join(rng.choice(chars) for _ in range(1 if rng.random() < 0.25 else 2))
    if rng.random() < rare_rate:
        given = given[:-1] + rng.choice(RARE_CHARS)
    return surname + given


@dataclass
class SchoolInfo:
    """What the generator needs to know about the school the people work at."""

    code: str
    name: str = "示例学校"
    city: str = "南昌市"
    county: str = "东湖区"
    county_code: str = "360102"
    stage: str = "primary"  # primary | junior | senior | kindergarten


def school_stage(school_code: str) -> str:
    """The school stage from the first two digits of the 10-digit school code (11/21/31/34)."""
    return {"11": "kindergarten", "21": "primary", "31": "junior", "34": "senior"}.get(school_code[:2], "primary")


def generate_people(
    n: int,
    *,
    seed: int,
    county_codes: Sequence[str] = JIANGXI_ID_COUNTIES,
    school_code: str = "2136000001",
    school: SchoolInfo | None = None,
    today: date | None = None,
    rare_rate: float = 0.004,
    detail: bool = True,
    taken_ids: set[str] | None = None,
) -> list[Person]:
    """n realistic teachers, the same for the same seed (and `today`).

    county_codes are GB/T 2260 address codes for the identity numbers; each person's code is one that the
    division history accepts for the birth year (falling back to codes valid in every year). With
    detail=False only 基本信息 and 联系方式 are made (faster, for the benchmark). `taken_ids` (shared
    across calls) keeps identity numbers unique across schools."""
    rng = random.Random(seed)
    today = today or date.today()
    school = school or SchoolInfo(code=school_code, stage=school_stage(school_code))
    taken = taken_ids if taken_ids is not None else set()
    valid_cache: dict[tuple[str, int], bool] = {}
    people: list[Person] = []
    last_month = _month_add(_month(today), -1)
    for _ in range(n):
        sex = "1" if rng.random() < 0.32 else "2"
        birth = date(1962, 1, 1) + timedelta(days=rng.randint(0, (date(2002, 12, 31) - date(1962, 1, 1)).days))
        # Nobody starts work in the future: the youngest are at least 21 today.
        if birth.year + 21 > today.year:
            birth = birth.replace(year=today.year - 21 - rng.randint(0, 3))
        candidates = [c for c in county_codes if _cached_valid(valid_cache, c, birth.year)]
        area = rng.choice(candidates) if candidates else rng.choice(ALWAYS_VALID_COUNTIES)
        while True:
            seq = rng.randrange(1 if sex == "1" else 0, 1000, 2)
            number = make_id_number(area, birth, seq)
            if number not in taken:
                taken.add(number)
                break
        person = _make_person(rng, sex=sex, birth=birth, number=number, school=school,
                              last_month=last_month, today=today, rare_rate=rare_rate, detail=detail)
        people.append(person)
    return people


def _cached_valid(cache: dict[tuple[str, int], bool], area: str, year: int) -> bool:
    key = (area, year)
    if key not in cache:
        cache[key] = _area_valid_for(area, year)
    return cache[key]


def _education_path(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.04:
        return "secondary"  # 中专 (older teachers; many upgraded later)
    if r < 0.24:
        return "college"  # 大学专科
    if r < 0.86:
        return "bachelor"
    if r < 0.995:
        return "master"
    return "doctor"


GRAD_AGE = {"secondary": 19, "college": 21, "bachelor": 22, "master": 25, "doctor": 28}


def _make_person(rng: random.Random, *, sex: str, birth: date, number: str, school: SchoolInfo,
                 last_month: str, today: date, rare_rate: float, detail: bool) -> Person:
    name = random_name(rng, sex, rare_rate=rare_rate)
    path = _education_path(rng)
    if path == "secondary" and birth.year >= 1985:  # 中专-trained teachers are the older ones
        path = "college"
    grad_year = birth.year + GRAD_AGE[path] + (1 if rng.random() < 0.3 else 0)
    ladder = ("secondary", "college", "bachelor", "master", "doctor")
    while f"{grad_year:04d}-07" > last_month and path != "secondary":
        path = ladder[ladder.index(path) - 1]  # too young for that degree by now: one level lower
        grad_year = birth.year + GRAD_AGE[path]
    grad_year = min(grad_year, int(last_month[:4]) - (0 if last_month[5:] >= "07" else 1))
    earliest_work = _month_add(_month(birth), 18 * 12 + 1)  # at least 18 years after birth
    work_start = max(f"{grad_year:04d}-{rng.choice((7, 8, 8, 9, 9, 9)):02d}", earliest_work)
    if rng.random() < 0.15:  # a year or two elsewhere before teaching
        work_start = _month_add(work_start, rng.randint(1, 24))
    work_start = _month_min(work_start, last_month)
    if work_start < earliest_work:
        work_start = earliest_work
    school_entry = work_start if rng.random() < 0.55 else _random_month_between(rng, work_start, last_month)
    age = today.year - birth.year
    staff_category = rng.choices(("11", "13", "12", "14"), weights=(86, 6, 5, 3))[0]
    in_bianzhi = "1" if rng.random() < 0.9 else "0"
    ethnicity = rng.choices(("01", "22", "06", "03", "08", "15", "04"), weights=(960, 12, 8, 8, 5, 5, 2))[0]
    political = rng.choices((("13",), ("01",), ("03",), ("02",), ("09",), ("07",)),
                            weights=(45, 38, 10 if age < 30 else 1, 2, 1, 1))[0]
    grassroots = "0"
    if rng.random() < 0.06 and int(work_start[:4]) >= 2006:
        grassroots = "特岗计划"
    basic: dict[str, Any] = {
        "name": name,
        "former_name": None,
        "sex": sex,
        "staff_number": None if rng.random() < 0.7 else f"{rng.randint(1, 9999):04d}",
        "nationality": "156",
        "id_type": "1",
        "id_number": number,
        "birth_date": birth,
        "native_place": None if rng.random() < 0.4 else rng.choice(("江西南昌", "江西九江", "江西赣州", "江西吉安",
                                                                     "江西上饶", "江西抚州", "湖南长沙", "江西宜春")),
        "birth_place": None,
        "ethnicity": ethnicity,
        "political_status": political,
        "marital_status": "10" if age < 27 and rng.random() < 0.6 else "20",
        "health_status": "1" if rng.random() < 0.97 else "2",
        "work_start_month": work_start,
        "school_entry_month": school_entry,
        "staff_source": rng.choices(("应届毕业生", "调入", "往届毕业生", "其他"), weights=(60, 25, 10, 5))[0],
        "staff_category": staff_category,
        "is_in_bianzhi": in_bianzhi,
        "employment_form": None if in_bianzhi == "1" else rng.choice(("人事代理", "劳务派遣", "其他")),
        "contract_status": "1" if in_bianzhi == "1" else "2",
        "is_fulltime_normal_graduate": "1" if rng.random() < 0.6 else "0",
        "had_special_ed_training": "1" if rng.random() < 0.04 else "0",
        "has_special_ed_certificate": "0",
        "it_application_ability": rng.choices(("1", "2", "3", "4", "5"), weights=(5, 30, 40, 20, 5))[0],
        "public_funded_normal_student": "0",
        "grassroots_service_project": grassroots,
        "grassroots_service_start": None,
        "grassroots_service_end": None,
        "is_special_grade_teacher": "1" if rng.random() < 0.004 and age > 45 else "0",
        "is_backbone_teacher": "1" if rng.random() < 0.15 and age > 28 else "0",
        "is_mental_health_teacher": "0",
        "personnel_status": "100",
        "remarks": None,
        # Kindergarten and special-school variants (only written where the template carries them).
        "is_fulltime_preschool_graduate": "0",
        "had_preschool_training": "0",
    }
    if grassroots != "0":
        start = work_start
        basic["grassroots_service_start"] = start
        basic["grassroots_service_end"] = _month_min(_month_add(start, 36), last_month)
    person = Person(name=name, sex=sex, birth_date=birth, id_number=number, basic=basic)
    person.contact = _contact(rng, school)
    if detail:
        _add_records(rng, person, path=path, grad_year=grad_year, school=school, last_month=last_month,
                     today=today)
    return person


def _contact(rng: random.Random, school: SchoolInfo) -> dict[str, Any]:
    prefix = rng.choice(("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                         "155", "157", "158", "159", "177", "180", "181", "182", "186", "187", "188", "189",
                         "191", "193", "198", "199"))
    mobile = prefix + f"{rng.randint(0, 99_999_999):08d}"
    email = None
    if rng.random() < 0.8:
        email = f"{rng.randint(10_000_000, 3_999_999_999)}@{rng.choice(('qq.com', 'qq.com', '163.com', '126.com'))}"
    phone = None
    if rng.random() < 0.15:
        phone = f"0791-8{rng.randint(0, 9_999_999):07d}"
    return {
        "mailing_address": f"江西省{school.city}{school.county}{rng.choice(STREETS)}{rng.randint(1, 300)}号",
        "phone": phone,
        "mobile": mobile,
        "email": email,
        "other_contact": None,
    }


def _study_row(*, education: str, institution: str, major: str, normal: bool, enroll: str, grad: str,
               degree_level: str, degree_name: str | None, mode: str) -> dict[str, Any]:
    has_edu = education != "0"
    has_deg = degree_level != "0"
    return {
        "education": education,
        "education_country": "156" if has_edu else None,
        "education_institution": institution if has_edu else None,
        "major": major if has_edu else None,
        "is_normal_major": ("1" if normal else "0") if has_edu else None,
        "enrollment_month": enroll if has_edu else None,
        "graduation_month": grad if has_edu else None,
        "degree_level": degree_level,
        "degree_name": degree_name if has_deg else None,
        "degree_country": "156" if has_deg else None,
        "degree_institution": institution if has_deg else None,
        "degree_award_month": grad if has_deg else None,
        "study_mode": mode,
        "study_unit_type": None,
    }


def _add_records(rng: random.Random, p: Person, *, path: str, grad_year: int, school: SchoolInfo,
                 last_month: str, today: date) -> None:
    b = p.basic
    major, normal_major, disc = rng.choice(MAJORS)
    if path == "secondary" and rng.random() < 0.7:
        major, normal_major, disc = rng.choice(MAJORS[12:14] + MAJORS[:2])
    study: list[dict[str, Any]] = []
    years = {"secondary": 3, "college": 3, "bachelor": 4, "master": 3, "doctor": 3}
    grad = f"{grad_year:04d}-07"
    if path == "secondary":
        inst, _ = rng.choice(SECONDARY)
        study.append(_study_row(education="41", institution=inst, major=major, normal=True,
                                enroll=f"{grad_year - 3:04d}-09", grad=grad, degree_level="0", degree_name=None,
                                mode="1"))
    elif path == "college":
        inst, is_normal = rng.choice(COLLEGES)
        study.append(_study_row(education="31", institution=inst, major=major, normal=is_normal and normal_major,
                                enroll=f"{grad_year - 3:04d}-09", grad=grad, degree_level="0", degree_name=None,
                                mode="1"))
    else:
        if path in ("master", "doctor"):
            b_grad = grad_year - years[path] - (3 if path == "doctor" else 0)
            inst0, is_normal0 = rng.choice(UNIVERSITIES)
            study.append(_study_row(education="21", institution=inst0, major=major,
                                    normal=is_normal0 and normal_major, enroll=f"{b_grad - 4:04d}-09",
                                    grad=f"{b_grad:04d}-07", degree_level="4", degree_name=f"4{disc}", mode="1"))
        if path == "doctor":
            inst1, is_normal1 = rng.choice(UNIVERSITIES[:4] + UNIVERSITIES[10:14])
            m_grad = grad_year - 3
            study.append(_study_row(education="14", institution=inst1, major=major,
                                    normal=is_normal1 and normal_major, enroll=f"{m_grad - 3:04d}-09",
                                    grad=f"{m_grad:04d}-07", degree_level="3", degree_name=f"3{disc}", mode="1"))
        inst, is_normal = rng.choice(UNIVERSITIES)
        edu, level = {"bachelor": ("21", "4"), "master": ("14", "3"), "doctor": ("11", "2")}[path]
        study.append(_study_row(education=edu, institution=inst, major=major, normal=is_normal and normal_major,
                                enroll=f"{grad_year - years[path]:04d}-09", grad=grad, degree_level=level,
                                degree_name=f"{level}{disc}", mode="1"))
    # Many who started with 中专 or 专科 upgraded part-time while working (函授/自考, 不脱产).
    if path in ("secondary", "college") and rng.random() < 0.6:
        start = _month_add(b["work_start_month"], rng.randint(12, 60))
        end = _month_add(start, rng.choice((30, 36, 42)))
        if end <= last_month:
            inst, is_normal = rng.choice(UNIVERSITIES[:10])
            edu = "31" if path == "secondary" else "21"
            with_degree = edu == "21" and rng.random() < 0.5
            study.append(_study_row(education=edu, institution=inst, major=major, normal=is_normal and normal_major,
                                    enroll=start, grad=end, degree_level="4" if with_degree else "0",
                                    degree_name=f"4{disc}" if with_degree else None, mode="3"))
    p.records["study"] = study

    # 工作经历: the current school and, when they came later, an earlier post.
    work: list[dict[str, Any]] = []
    if b["school_entry_month"] > b["work_start_month"]:
        work.append({"employer_name": f"{school.county}{rng.choice(('第二', '第三', '实验', '中心'))}"
                                      f"{rng.choice(('小学', '中学'))}",
                     "start_month": b["work_start_month"],
                     "end_month": _month_add(b["school_entry_month"], -1), "employer_type": "23",
                     "position": "教师"})
    work.append({"employer_name": school.name, "start_month": b["school_entry_month"], "end_month": None,
                 "employer_type": "23", "position": {"11": "教师", "12": "教辅", "13": "行政", "14": "工勤"}[
                     b["staff_category"]]})
    p.records["work"] = work

    # 岗位聘任
    years_worked = today.year - int(b["work_start_month"][:4])
    post_category = {"11": "1", "12": "2", "13": "3", "14": "4"}[b["staff_category"]]
    level = max(1, min(13, 13 - years_worked // 3))
    p.records["post"] = [{
        "post_category": post_category,
        "post_grade": {"1": f"专业技术岗位{_cn_num(level)}级", "2": f"专业技术岗位{_cn_num(level)}级",
                       "3": f"管理岗位{_cn_num(max(5, min(10, level)))}级", "4": "工勤技能岗位三级"}[post_category],
        "start_month": _month_min(_month_add(b["school_entry_month"], rng.randint(0, 24)), last_month),
        "has_concurrent_post": "0",
        "concurrent_post_category": None,
        "concurrent_post_grade": None,
        "school_post": ("00",),
        "school_post_start_month": None,
    }]

    # 专业技术职务聘任
    if b["staff_category"] in ("11", "12"):
        title = "二级教师" if years_worked < 4 else "一级教师" if years_worked < 13 else (
            "高级教师" if rng.random() < 0.55 else "一级教师")
        if years_worked > 25 and rng.random() < 0.03:
            title = "正高级教师"
        start = _month_min(_month_add(b["work_start_month"], {"二级教师": 12, "一级教师": 60, "高级教师": 150,
                                                             "正高级教师": 240}[title]), last_month)
        p.records["title"] = [{"title": title, "start_month": start, "end_month": None,
                               "employer_name": school.name}]
    else:
        p.records["title"] = [{"title": "0", "start_month": None, "end_month": None, "employer_name": None}]

    # 教师资格
    if b["staff_category"] == "11":
        cert_type = {"kindergarten": "1", "primary": "2", "junior": "3", "senior": "4"}[school.stage]
        year = max(1996, min(int(b["work_start_month"][:4]), today.year))
        year = max(year, grad_year if grad_year <= today.year else year)
        year = min(year, today.year)
        number = (f"{year:04d}" + "36" + f"{rng.choice(('001', '010', '011', '012', '020', '030', '040', '070')):s}"
                  + cert_type + ("1" if p.sex == "1" else "2") + f"{rng.randint(1, 999_999):06d}")
        issue = date(year, rng.randint(5, 12), rng.randint(1, 28))
        if issue > today:
            issue = today - timedelta(days=1)
        p.records["qualification"] = [{
            "certificate_type": cert_type,
            "certificate_number": number,
            "subject": rng.choice(SUBJECTS[:8] if school.stage in ("junior", "senior") else SUBJECTS[:3] + SUBJECTS[9:14]),
            "issue_date": issue,
            "issuing_authority": "江西省教育厅" if cert_type == "4" else f"{school.city}{school.county}教育体育局",
        }]
    else:
        p.records["qualification"] = [{"certificate_type": "0", "certificate_number": None, "subject": None,
                                       "issue_date": None, "issuing_authority": None}]

    # 国内培训: a few rows in recent years.
    first_year = max(int(b["work_start_month"][:4]), today.year - 6)
    training = []
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
        cat, proj, provider, mode, hours = rng.choice(TRAININGS)
        y = rng.randint(first_year, today.year - 1) if first_year < today.year else today.year
        fmt = {"y": y, "city": school.city, "county": school.county, "school": school.name}
        training.append({"training_year": y, "training_category": cat, "project_name": proj.format(**fmt),
                         "provider_name": provider.format(**fmt), "training_mode": mode,
                         "hours": hours, "credits": max(1, hours // 10) if rng.random() < 0.6 else None})
    p.records["training"] = training


CN_DIGITS = "零一二三四五六七八九"


def _cn_num(n: int) -> str:
    """Chinese numerals for 0–99 (十三, 二十一); larger numbers stay Arabic."""
    if n < 10:
        return CN_DIGITS[n]
    if n >= 100:
        return str(n)
    tens, units = divmod(n, 10)
    return (CN_DIGITS[tens] if tens > 1 else "") + "十" + (CN_DIGITS[units] if units else "")


# ---------------------------------------------------------------------------------------------------
# From people to sheet rows (field code → normalised value), matched to the pack's sheets.

# Our record groups by information category (fields.md numbering).
GROUP_BY_CATEGORY = {1: "basic", 2: "study", 3: "work", 4: "post", 5: "title", 6: "qualification",
                     10: "training", 14: "contact"}


def group_for(sheet: SheetSpec) -> str | None:
    """Which of the generator's record groups fills a pack sheet (None: the generator leaves it empty)."""
    return GROUP_BY_CATEGORY.get(sheet.category)


def person_rows(person: Person, group: str) -> list[dict[str, Any]]:
    """The rows one person sends on one sheet (field code → value); many-record rows carry name and id."""
    if group == "basic":
        return [person.basic]
    link = {"name": person.name, "id_type": person.id_type, "id_number": person.id_number}
    if group == "contact":
        return [{**link, **person.contact}]
    return [{**link, **row} for row in person.records.get(group, [])]


# ---------------------------------------------------------------------------------------------------
# Cell rendering: how schools write values.


class Renderer:
    """Turns normalised values into cells the way a school writes them (code, name or 'code-name')."""

    def __init__(self, pack: RulePack | None, rng: random.Random, *, code_style: str = "mixed",
                 date_style: str = "date") -> None:
        self.pack = pack
        self.rng = rng
        self.code_style = code_style  # code-name | name | code | mixed
        self.date_style = date_style  # date (a date cell) | text (YYYY-MM-DD)
        self._resolved: dict[tuple[str, str], str | None] = {}
        self.unresolved: dict[str, set[str]] = {}

    def table(self, f: FieldSpec) -> CodeTable | None:
        if self.pack is None or not f.table:
            return None
        return self.pack.tables.get(f.table)

    def resolve(self, f: FieldSpec, value: Any) -> str | None:
        """The pack's code for a generated code or name; None when the pack's table has neither."""
        table = self.table(f)
        if table is None:
            return str(value)
        key = (table.id, str(value))
        if key not in self._resolved:
            raw = str(value)
            code = raw if raw in table.entries else table.lookup(raw)
            self._resolved[key] = code
            if code is None:
                self.unresolved.setdefault(table.id, set()).add(raw)
        return self._resolved[key]

    def code_text(self, f: FieldSpec, code: str) -> str:
        table = self.table(f)
        if table is None:
            return code
        entry = table.entries[code]
        style = self.code_style
        if style == "mixed":
            style = self.rng.choices(("code-name", "name", "code"), weights=(70, 25, 5))[0]
        if style == "name":
            if table.id == "sex" and entry.aliases:  # schools write 男/女, not 男性/女性
                return entry.aliases[0]
            # Names shared by two codes (有慢性病 30/40) are ambiguous; write those as code-name.
            folded = fold_name(entry.name)
            if table.index.get(folded) == code and not folded.isdigit():
                return entry.name
            return f"{code}-{entry.name}"
        if style == "code":
            return code
        return f"{code}-{entry.name}"

    def cell(self, f: FieldSpec, value: Any) -> Any:
        """The cell value for one field (None for an empty cell)."""
        if value is None or value == "" or value == ():
            return None
        t = f.type
        if t in ("code", "yesno"):
            code = self.resolve(f, value)
            return None if code is None else self.code_text(f, code)
        if t == "codes":
            values = value if isinstance(value, (tuple, list)) else (value,)
            codes = [c for c in (self.resolve(f, v) for v in values) if c is not None]
            if not codes:
                return None
            return "、".join(self.code_text(f, c) for c in codes)
        if t == "date":
            if isinstance(value, date):
                if self.date_style == "text":
                    return value.isoformat()
                return datetime(value.year, value.month, value.day)
            return str(value)
        if t == "month":
            return str(value)
        if t in ("year", "int"):
            return int(value)
        if t == "decimal":
            return float(value)
        return str(value)


# ---------------------------------------------------------------------------------------------------
# The grid: rows of cells per sheet, before writing. Mistakes are injected here.


@dataclass
class SheetGrid:
    """One sheet's data as it will be written: columns (field codes) and rows of cell values."""

    spec: SheetSpec
    title: str
    header_row: int  # Excel row of the header; data starts below it
    columns: list[str]  # field code per column (index = 0-based column)
    rows: list[list[Any]] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)  # index into people (-1: not a listed person)

    def col(self, code: str) -> int:
        return self.columns.index(code)

    def has(self, code: str) -> bool:
        return code in self.columns

    def excel_row(self, index: int) -> int:
        return self.header_row + 1 + index


@dataclass
class Injected:
    """One injected mistake: where it is and which rule should report it (None: must not be reported)."""

    mistake: str
    sheet: str  # sheet name in the workbook
    row: int  # Excel row number
    column: str  # Excel column letter
    field: str  # field code
    rule: str | None
    severity: str | None
    value: Any  # what the cell holds
    person: int = -1  # index into people

    @property
    def expects_finding(self) -> bool:
        return self.rule is not None


@dataclass(frozen=True)
class Mistake:
    """A mistake injector: what people or Excel do, and the rule that must catch it (None: valid input).

    `rule` is the id the core pack uses; expected_rule() finds the rule of the pack in force by what it
    checks (kind, part, fields), so an overlay that renames or replaces a rule keeps the tests exact."""

    id: str
    description: str
    sheet: str  # record group
    field: str
    rule: str | None  # default expected rule id
    severity: str | None


MISTAKES: dict[str, Mistake] = {m.id: m for m in (
    Mistake("id_as_float", "身份证件号被 Excel 存成数字（1.10105E+17，后几位丢失）", "basic", "id_number",
            "ID-AS-NUMBER", "error"),
    Mistake("id_checksum", "身份证件号校验位错误", "basic", "id_number", "ID-CHECKSUM", "error"),
    Mistake("id_15", "15 位旧身份证号（应升级为 18 位）", "basic", "id_number", "ID-15", "warning"),
    Mistake("birth_mismatch", "出生日期与身份证件号不一致", "basic", "birth_date", "ID-BIRTH", "error"),
    Mistake("sex_mismatch", "性别与身份证件号不一致", "basic", "sex", "ID-SEX", "error"),
    Mistake("date_serial", "出生日期写成 Excel 日期序号（有效，不应报错）", "basic", "birth_date", None, None),
    Mistake("month_text", "年月写成文本 2016.09、2016年9月、201609（有效，不应报错）", "basic",
            "work_start_month", None, None),
    Mistake("month_ambiguous", "年月写成数字 2016.1（10 月还是 1 月？）", "basic", "school_entry_month",
            "DATE-AMBIGUOUS", "error"),
    Mistake("fullwidth", "全角数字、全角空格、零宽字符（规范化后有效，不应报错）", "basic", "id_number", None, None),
    Mistake("code_forms", "代码写成名称、“代码-名称”或丢了前导零（有效，不应报错）", "basic", "ethnicity", None, None),
    Mistake("unknown_code", "代码表中不存在的值", "basic", "political_status", "CODE-UNKNOWN", "error"),
    Mistake("old_ethnic", "民族写旧称“毛难族”", "basic", "ethnicity", "CODE-HISTORICAL", "warning"),
    Mistake("missing_required", "必填项为空", "basic", "it_application_ability", "REQUIRED", "error"),
    Mistake("bianzhi_form", "是否在编为“是”却填了用人形式", "basic", "employment_form", "BIANZHI-FORM-BLANK", "error"),
    Mistake("school_before_work", "进本校年月早于参加工作年月", "basic", "school_entry_month",
            "DATE-SCHOOL-WORK", "error"),
    Mistake("work_age14", "14 岁参加工作", "basic", "work_start_month", "DATE-WORK-AGE16", "warning"),
    Mistake("duplicate_person", "同一人在基本信息中出现两次", "basic", "id_number", "ID-DUPLICATE", "error"),
    Mistake("orphan_record", "子表记录的人员没有基本信息", "study", "id_number", "REF-NO-BASIC", "error"),
    # The core pack's NAME-CHARS (a pattern on 姓名) reports it; the annotated workbook escapes it.
    Mistake("formula_text", "姓名单元格写成公式文本“=1+1”", "basic", "name", "NAME-CHARS", "error"),
)}


def expected_rule(pack: RulePack | None, mistake: Mistake) -> tuple[str | None, str | None, str]:
    """The rule id, severity and marked field the pack in force uses for a mistake.

    Rule ids are data: the pack may name a check differently, so the rule is looked up by what it checks
    (kind, part, fields) and the injector's default is used when nothing matches."""
    if pack is None or mistake.rule is None:
        return mistake.rule, mistake.severity, mistake.field
    rules = pack.active_rules()
    basic = "basic"

    def pick(pred: Any) -> RuleDef | None:
        for r in rules:
            if pred(r):
                return r
        return None

    def idpart(part: str) -> Any:
        return lambda r: r.kind == "idnumber" and r.params.get("part") == part

    matchers: dict[str, Any] = {
        "id_as_float": lambda r: r.id == "ID-AS-NUMBER",
        "id_checksum": idpart("checksum"),
        "id_15": idpart("upgraded15"),
        "birth_mismatch": idpart("birth"),
        "sex_mismatch": idpart("sex"),
        "month_ambiguous": lambda r: r.id == "DATE-AMBIGUOUS",
        "unknown_code": lambda r: r.id == "CODE-UNKNOWN",
        "old_ethnic": lambda r: r.kind == "cell" and ("HISTOR" in r.id or "OLD" in r.id),
        "missing_required": lambda r: r.id == "REQUIRED",
        "bianzhi_form": lambda r: r.kind == "blank" and r.fields[:1] == ("employment_form",),
        "school_before_work": lambda r: r.kind == "order" and r.fields[:1] == ("school_entry_month",)
        and r.params.get("after") == "work_start_month",
        "work_age14": lambda r: r.kind == "order" and r.fields[:1] == ("work_start_month",)
        and r.params.get("min_years"),
        "duplicate_person": lambda r: r.kind == "unique_file" and r.sheet in (basic, "*"),
        "orphan_record": lambda r: r.kind == "reference",
        "formula_text": lambda r: (r.kind == "cell" and "FORMULA" in r.id)
        or (r.kind == "pattern" and r.fields[:1] == ("name",) and r.sheet in (basic, "*")),
    }
    rule = pick(matchers[mistake.id]) if mistake.id in matchers else None
    if rule is None:
        return mistake.rule, mistake.severity, mistake.field
    marked = rule.fields[0] if rule.fields and rule.kind not in ("cell", "codelist", "required") else mistake.field
    return rule.id, rule.severity, marked


def _mistake_plan(mistakes: dict[str, float] | Sequence[tuple[str, int]] | None, n: int) -> list[tuple[str, int]]:
    if not mistakes:
        return []
    if isinstance(mistakes, dict):
        plan = [(m, max(1, round(rate * n)) if rate > 0 else 0) for m, rate in mistakes.items()]
    else:
        plan = [(m, int(c)) for m, c in mistakes]
    for m, _ in plan:
        if m not in MISTAKES:
            raise ValueError(f"unknown mistake {m!r}; known: {', '.join(MISTAKES)}")
    return plan


class _Injector:
    """Applies mistakes to a grid; each victim person carries at most one mistake."""

    def __init__(self, grids: dict[str, SheetGrid], people: list[Person], pack: RulePack | None,
                 rng: random.Random, renderer: Renderer) -> None:
        self.grids = grids
        self.people = people
        self.pack = pack
        self.rng = rng
        self.renderer = renderer
        self.this_year = str(date.today().year)
        self.order = list(range(len(people)))
        rng.shuffle(self.order)
        self.taken = 0  # order[:taken] already carry a mistake
        self.out: list[Injected] = []
        basic = grids.get("basic")
        self.basic_row: dict[int, int] = {}
        if basic:
            for i, owner in enumerate(basic.owners):
                self.basic_row.setdefault(owner, i)

    def record(self, mistake: str, grid: SheetGrid, index: int, field_code: str, person: int) -> None:
        m = MISTAKES[mistake]
        rule, severity, marked = expected_rule(self.pack, m)
        if not grid.has(marked):
            marked = field_code
        col = grid.col(marked)
        self.out.append(Injected(mistake=mistake, sheet=grid.title, row=grid.excel_row(index),
                                 column=column_letter(col), field=marked, rule=rule, severity=severity,
                                 value=grid.rows[index][col], person=person))

    def set(self, grid: SheetGrid, index: int, code: str, value: Any) -> None:
        grid.rows[index][grid.col(code)] = value

    def inject(self, mistake: str, count: int) -> int:
        done = 0
        for _ in range(count):
            if not self._one(mistake):
                break
            done += 1
        return done

    def _one(self, mistake: str) -> bool:
        """Inject one instance of the mistake into a fresh victim; False when nobody qualifies."""
        if mistake == "orphan_record":
            return self._orphan()
        g = self.grids.get("basic")
        m = MISTAKES[mistake]
        if g is None or not g.has(m.field):
            return False
        needs: dict[str, Any] = {
            "id_as_float": lambda p: not p.id_number.endswith("X"),
            "id_15": lambda p: p.birth_date.year < 2000,
            "bianzhi_form": lambda p: p.basic["is_in_bianzhi"] == "1",
            "code_forms": lambda p: p.basic["ethnicity"] == "01",
            "month_ambiguous": lambda p: p.basic["work_start_month"][:4] < p.basic["school_entry_month"][:4]
            < self.this_year,
            "work_age14": lambda p: not p.basic.get("grassroots_service_start"),
        }
        pred = needs.get(mistake)
        for k in range(self.taken, len(self.order)):
            i = self.order[k]
            if i not in self.basic_row or (pred is not None and not pred(self.people[i])):
                continue
            where = self._apply(mistake, g, self.basic_row[i], self.people[i], i)
            if where is None:
                continue
            # Each victim carries one mistake: move it into the taken prefix of the order.
            self.order[k], self.order[self.taken] = self.order[self.taken], self.order[k]
            self.taken += 1
            self.record(mistake, g, where, m.field, i)
            return True
        return False

    def _apply(self, mistake: str, g: SheetGrid, r: int, p: Person, i: int) -> int | None:
        """Change the cells; the grid row index to report, or None when this person does not fit."""
        rng = self.rng
        if mistake == "id_as_float":
            # Excel keeps 15 significant digits: 360102198703070315 → 3.60102198703070E+17.
            self.set(g, r, "id_number", float(f"{int(p.id_number):.14e}"))
        elif mistake == "id_checksum":
            good = p.id_number[-1]
            self.set(g, r, "id_number", p.id_number[:-1] + rng.choice([c for c in "0123456789" if c != good]))
        elif mistake == "id_15":
            self.set(g, r, "id_number", old_id_number(p.id_number))
        elif mistake == "birth_mismatch":
            wrong = p.birth_date + timedelta(days=rng.choice((-400, -31, -1, 1, 31, 365)))
            self.set(g, r, "birth_date", self.renderer.cell(g.spec.field("birth_date"), wrong))
        elif mistake == "sex_mismatch":
            self.set(g, r, "sex", self.renderer.cell(g.spec.field("sex"), "2" if p.sex == "1" else "1"))
        elif mistake == "date_serial":
            self.set(g, r, "birth_date", (p.birth_date - date(1899, 12, 30)).days)
        elif mistake == "month_text":
            y, mo = p.basic["work_start_month"][:4], int(p.basic["work_start_month"][5:7])
            self.set(g, r, "work_start_month",
                     rng.choice((f"{y}.{mo:02d}", f"{y}年{mo}月", f"{y}{mo:02d}", f"{y}/{mo}", f"{y}-{mo}")))
        elif mistake == "month_ambiguous":
            # October typed as a number: 2016.10 → 2016.1; nobody can tell it from January.
            self.set(g, r, "school_entry_month", float(f"{p.basic['school_entry_month'][:4]}.1"))
        elif mistake == "fullwidth":
            wide = p.id_number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
            self.set(g, r, "id_number", wide[:6] + "\u200b" + wide[6:])
            if g.has("name"):
                self.set(g, r, "name", "\u3000" + p.name + " \u3000")
        elif mistake == "code_forms":
            self.set(g, r, "ethnicity", rng.choice(("1", "汉族", "01-汉族", "01 汉族")))
        elif mistake == "unknown_code":
            self.set(g, r, "political_status", rng.choice(("99-其他", "党员群众", "88")))
        elif mistake == "old_ethnic":
            self.set(g, r, "ethnicity", "毛难族")
        elif mistake == "missing_required":
            self.set(g, r, "it_application_ability", None)
        elif mistake == "bianzhi_form":
            self.set(g, r, "employment_form",
                     self.renderer.cell(g.spec.field("employment_form"), "人事代理") or "人事代理")
        elif mistake == "school_before_work":
            self.set(g, r, "school_entry_month", _month_add(p.basic["work_start_month"], -rng.randint(1, 24)))
        elif mistake == "work_age14":
            self.set(g, r, "work_start_month", _month_add(_month(p.birth_date), 14 * 12 + rng.randint(1, 10)))
        elif mistake == "duplicate_person":
            # The same person sent twice (pasted again at the bottom): the later row is the duplicate.
            g.rows.append(list(g.rows[r]))
            g.owners.append(i)
            return len(g.rows) - 1
        elif mistake == "formula_text":
            self.set(g, r, "name", "=1+1")
        else:
            return None
        return r

    def _spec(self, g: SheetGrid, code: str) -> FieldSpec:
        return g.spec.field(code)

    def _orphan(self) -> bool:
        """A sub-record (学习经历 first) for someone who has no 基本信息 row in the file."""
        for group in ("study", "training", "qualification", "contact"):
            g = self.grids.get(group)
            if g is not None and g.has("id_number") and g.has("name"):
                break
        else:
            return False
        stranger = generate_people(1, seed=self.rng.randint(0, 2**31), detail=False)[0]
        source = next((g.rows[k] for k, owner in enumerate(g.owners) if owner >= 0), None)
        row = list(source) if source is not None else [None] * len(g.columns)
        row[g.col("name")] = stranger.name
        row[g.col("id_number")] = stranger.id_number
        g.rows.append(row)
        g.owners.append(-1)
        self.record("orphan_record", g, len(g.rows) - 1, "id_number", -1)
        return True


# ---------------------------------------------------------------------------------------------------
# Building grids and writing files.


def _sheets_for(pack: RulePack, kind: str) -> list[SheetSpec]:
    if kind in pack.kinds:
        return pack.sheets_for_kind(kind)
    return pack.ordered_sheets()


def _template_columns(spec: SheetSpec) -> list[FieldSpec]:
    return [f for f in spec.input_fields]


def build_grids(people: Sequence[Person], *, pack: RulePack, kind: str, renderer: Renderer,
                layout: dict[str, tuple[str, int, list[str]]] | None = None,
                only: Sequence[str] | None = None) -> dict[str, SheetGrid]:
    """The data rows of every sheet of the kind, keyed by record group (sheets with no group are omitted).

    layout maps sheet id → (title, header row, column field codes) as the template lays them out;
    only (sheet ids) restricts which sheets get rows."""
    grids: dict[str, SheetGrid] = {}
    for spec in _sheets_for(pack, kind):
        group = group_for(spec)
        if group is None or (only is not None and spec.id not in only):
            continue
        if layout and spec.id in layout:
            title, header_row, columns = layout[spec.id]
        else:
            title, header_row, columns = spec.name, 1, [f.code for f in _template_columns(spec)]
        fields = {f.code: f for f in spec.fields}
        grid = SheetGrid(spec=spec, title=title, header_row=header_row, columns=columns)
        for idx, person in enumerate(people):
            for values in person_rows(person, group):
                row = []
                for code in columns:
                    f = fields.get(code)
                    if f is None:
                        row.append(None)
                        continue
                    row.append(renderer.cell(f, values.get(code)))
                grid.rows.append(row)
                grid.owners.append(idx)
        _fill_required_gaps(grid, renderer)
        grids[group] = grid
    return grids


def _fill_required_gaps(grid: SheetGrid, renderer: Renderer) -> None:
    """A required coded column the generator has no value for gets the table's first selectable code.

    This keeps clean rows clean when the pack carries a field the generator does not know."""
    for c, code in enumerate(grid.columns):
        f = next((x for x in grid.spec.fields if x.code == code), None)
        if f is None or not f.required or not grid.rows:
            continue
        if any(row[c] is not None for row in grid.rows):
            continue
        table = renderer.table(f)
        if table is None:
            continue
        choices = [e.code for e in table.entries.values() if e.selectable]
        if not choices:
            continue
        filler = renderer.code_text(f, choices[0])
        for row in grid.rows:
            row[c] = filler


class TemplateCache:
    """Official templates built once per kind and re-labelled per school (building one takes about a second).

    The template is built for a placeholder unit; each copy is loaded from the saved bytes and every
    occurrence of the placeholder code and name (说明 sheet, hidden metadata, document properties) is
    replaced by the school's. Only spreadsheet cells that are not data sheets are touched."""

    PLACEHOLDER_CODE = "9999999999"
    PLACEHOLDER_NAME = "〔占位单位名称〕"

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self._fast = _memo_pack(pack)
        self._saved: dict[str, bytes] = {}

    def get(self, kind: str, unit_code: str, unit_name: str) -> Any:
        import io

        from openpyxl import load_workbook

        if kind not in self._saved:
            wb = _template_module().build_template(self._fast, kind, self.PLACEHOLDER_CODE, self.PLACEHOLDER_NAME)
            buf = io.BytesIO()
            wb.save(buf)
            self._saved[kind] = buf.getvalue()
        wb = load_workbook(io.BytesIO(self._saved[kind]))
        data_names = {s.name for s in self.pack.sheets.values()}

        def swap(text: Any) -> Any:
            if isinstance(text, str) and (self.PLACEHOLDER_CODE in text or self.PLACEHOLDER_NAME in text):
                return text.replace(self.PLACEHOLDER_CODE, unit_code).replace(self.PLACEHOLDER_NAME, unit_name)
            return text

        for ws in wb.worksheets:
            if ws.title in data_names:
                continue
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str):
                        cell.value = swap(cell.value)
        for prop in wb.custom_doc_props.props:
            prop.value = swap(prop.value)
        props = wb.properties
        props.title, props.keywords, props.subject = swap(props.title), swap(props.keywords), swap(props.subject)
        return wb


def _memo_pack(pack: RulePack) -> RulePack:
    """A shallow copy of the pack whose active_rules() is computed once (the template builder asks often)."""
    import copy

    fast = copy.copy(pack)
    rules = pack.active_rules()
    fast.active_rules = lambda: rules  # type: ignore[method-assign]
    return fast


def _template_module() -> Any:
    try:
        from processor.workbook import template  # type: ignore[attr-defined]
    except ImportError:
        return None
    return template if hasattr(template, "build_template") else None


def _find_header(ws: Any, spec: SheetSpec, max_scan: int = 12) -> tuple[int, list[str]] | None:
    """The header row of a template sheet and the field code of every column."""
    keys = {}
    for f in spec.fields:
        for k in f.header_keys():
            keys.setdefault(k, f.code)
    best: tuple[int, list[str]] | None = None
    best_hits = 0
    for r, row in enumerate(ws.iter_rows(min_row=1, max_row=max_scan, values_only=True), start=1):
        codes = []
        hits = 0
        for value in row:
            code = keys.get(fold_name(value)) if isinstance(value, str) else None
            if code:
                hits += 1
            codes.append(code or "")
        if hits > best_hits:
            best_hits, best = hits, (r, codes)
    if best is None:
        return None
    r, codes = best
    while codes and codes[-1] == "":
        codes.pop()
    return r, codes


def write_workbook(
    path: str | Path,
    people: Sequence[Person],
    *,
    pack: RulePack,
    kind: str = "teachers",
    unit_code: str,
    unit_name: str,
    mistakes: dict[str, float] | Sequence[tuple[str, int]] | None = None,
    use_template: bool = True,
    seed: int = 0,
    code_style: str = "mixed",
    date_style: str = "date",
    write_only: bool | None = None,
    only: Sequence[str] | None = None,
    template_cache: TemplateCache | None = None,
) -> list[Injected]:
    """Write the people into an official-template workbook and return the injected mistakes.

    With use_template the workbook starts from the official template (hidden metadata, dropdowns,
    header layout); files of 50 000 rows or more are streamed (openpyxl write-only) with the same
    metadata sheet and headers. Without it, a plain workbook with a header row (as a school's own
    export looks). Each returned Injected says where the mistake is and which rule must report it.
    only (sheet ids) fills just those sheets; the others stay empty (the benchmark's basic-information files).
    template_cache reuses templates across calls (many schools in a row: the demo)."""
    path = Path(path)
    rng = random.Random(seed)
    renderer = Renderer(pack, rng, code_style=code_style, date_style=date_style)
    template = _template_module() if use_template else None
    wb = None
    layout: dict[str, tuple[str, int, list[str]]] = {}
    specs = _sheets_for(pack, kind)
    if template is not None:
        if template_cache is not None:
            wb = template_cache.get(kind, unit_code, unit_name)
        else:
            wb = template.build_template(_memo_pack(pack), kind, unit_code, unit_name)
        for spec in specs:
            if spec.name in wb.sheetnames:
                found = _find_header(wb[spec.name], spec)
                if found:
                    layout[spec.id] = (spec.name, found[0], found[1])
    grids = build_grids(people, pack=pack, kind=kind, renderer=renderer, layout=layout, only=only)
    injector = _Injector(grids, list(people), pack, rng, renderer)
    for mistake, count in _mistake_plan(mistakes, len(people)):
        injector.inject(mistake, count)
    total_rows = sum(len(g.rows) for g in grids.values())
    stream = write_only if write_only is not None else total_rows >= 50_000
    path.parent.mkdir(parents=True, exist_ok=True)
    if stream:
        _write_streamed(path, specs, grids, wb, layout, pack=pack, kind=kind, unit_code=unit_code,
                        unit_name=unit_name, use_template=template is not None)
    else:
        _write_normal(path, specs, grids, wb)
    return sorted(injector.out, key=lambda x: (x.sheet, x.row, x.column))


def _set_text(cell: Any, value: Any) -> None:
    """Put a value in a cell; text that starts with '=' stays text (a person typed it, Excel shows it)."""
    if isinstance(value, str) and value.startswith("="):
        cell.value = value
        cell.data_type = "s"
        return
    cell.value = value


def _write_normal(path: Path, specs: list[SheetSpec], grids: dict[str, SheetGrid], wb: Any) -> None:
    from openpyxl import Workbook

    if wb is None:
        wb = Workbook()
        wb.remove(wb.active)
        for spec in specs:
            ws = wb.create_sheet(spec.name)
            for c, f in enumerate(_template_columns(spec), start=1):
                ws.cell(row=1, column=c, value=f.label)
    for grid in grids.values():
        ws = wb[grid.title]
        # A template may pre-format rows below the header; write over them.
        start = grid.header_row + 1
        id_cols = {grid.col(c) for c in grid.columns if c == "id_number"}
        for r, row in enumerate(grid.rows, start=start):
            for c, value in enumerate(row, start=1):
                if value is None:
                    continue
                cell = ws.cell(row=r, column=c)
                _set_text(cell, value)
                if (c - 1) in id_cols and isinstance(value, float):
                    cell.number_format = "General"
                elif isinstance(value, datetime):
                    cell.number_format = "yyyy-mm-dd"
    wb.save(path)


def _write_streamed(path: Path, specs: list[SheetSpec], grids: dict[str, SheetGrid], template_wb: Any,
                    layout: dict[str, tuple[str, int, list[str]]], **meta: Any) -> None:
    """Write-only mode for big files: the template's header rows and metadata sheet, then the data."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    by_id = {g.spec.id: g for g in grids.values()}
    for spec in specs:
        ws = wb.create_sheet(spec.name)
        grid = by_id.get(spec.id)
        header_rows: list[list[Any]] = []
        if template_wb is not None and spec.name in template_wb.sheetnames and spec.id in layout:
            tws = template_wb[spec.name]
            for row in tws.iter_rows(min_row=1, max_row=layout[spec.id][1], values_only=True):
                header_rows.append(list(row))
        else:
            header_rows.append([f.label for f in _template_columns(spec)])
        for row in header_rows:
            ws.append(row)
        if grid is None:
            continue
        date_cols = {i for i, c in enumerate(grid.columns)
                     if c and grid.spec.has_field(c) and grid.spec.field(c).type == "date"}
        for row in grid.rows:
            out = []
            for i, value in enumerate(row):
                if i in date_cols and isinstance(value, datetime):
                    cell = WriteOnlyCell(ws, value=value)
                    cell.number_format = "yyyy-mm-dd"
                    out.append(cell)
                elif isinstance(value, str) and value.startswith("="):
                    cell = WriteOnlyCell(ws, value=value)
                    cell.data_type = "s"
                    out.append(cell)
                else:
                    out.append(value)
            ws.append(out)
    if template_wb is not None:
        for name in template_wb.sheetnames:
            if name in wb.sheetnames:
                continue
            tws = template_wb[name]
            ws = wb.create_sheet(name)
            for row in tws.iter_rows(values_only=True):
                ws.append(list(row))
            if tws.sheet_state != "visible":
                ws.sheet_state = tws.sheet_state
    wb.save(path)


def write_csv(path: str | Path, people: Sequence[Person], *, pack: RulePack | None = None,
              encoding: str = "gb18030", seed: int = 0) -> Path:
    """A legacy export of 基本信息 as CSV (GB18030 by default): header labels, values as text."""
    path = Path(path)
    rng = random.Random(seed)
    if pack is not None:
        spec = next(s for s in pack.ordered_sheets() if group_for(s) == "basic")
        fields = _template_columns(spec)
    else:
        fields = [FieldSpec(code=c, label=label, type=t) for c, label, t in FALLBACK_BASIC]
    renderer = Renderer(pack, rng, code_style="name", date_style="text")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([f.label for f in fields])
        for person in people:
            row = []
            for f in fields:
                value = renderer.cell(f, person.basic.get(f.code))
                row.append("" if value is None else (value.date().isoformat() if isinstance(value, datetime)
                                                     else str(value)))
            writer.writerow(row)
    return path


# Used only when no pack is given (write_csv without a pack).
FALLBACK_BASIC = (
    ("name", "姓名", "text"), ("sex", "性别", "text"), ("nationality", "国籍/地区", "text"),
    ("id_type", "身份证件类型", "text"), ("id_number", "身份证件号", "idnumber"), ("birth_date", "出生日期", "date"),
    ("ethnicity", "民族", "text"), ("work_start_month", "参加工作年月", "month"),
    ("school_entry_month", "进本校年月", "month"),
)
