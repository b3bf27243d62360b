"""A received message taken apart: sender, subject, body, and the attachments tmis can process.

File names come out as the sender saw them, whichever way the client wrote them:
RFC 2231 (``filename*=UTF-8''%E6%95%99…``, also split as ``filename*0*=…; filename*1*=…``, as Thunderbird
writes), RFC 2047 encoded-words inside the quoted parameter (``filename="=?GB2312?B?…?="``, as Outlook and
Foxmail write, possibly several words in a row), or raw 8-bit GBK / GB2312 / UTF-8 bytes. A name is never
used as a path: only its last component survives, without separators or control characters.

Zip archives are unpacked in memory with limits on member count, total size and compression ratio;
member names are decoded the same way (UTF-8 flag, else GBK as Chinese Windows writes them)."""

from __future__ import annotations

import email
import io
import re
import zipfile
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv")
ZIP_SUFFIXES = (".zip",)
SPREADSHEET_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "text/csv": ".csv",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")
_GB_LABEL = re.compile(r"=\?(?:gb2312|gbk|x-gbk|euc-cn)\?", re.I)
GB_CHARSETS = ("gb2312", "gbk", "x-gbk", "euc-cn")


@dataclass
class Attachment:
    """One file taken from a message (a zip member carries the archive's name in ``container``)."""

    name: str
    data: bytes
    container: str = ""


@dataclass
class Skipped:
    """An attachment that is not processed, with the reason (Chinese, for the reply)."""

    name: str
    reason: str


@dataclass
class ParsedMessage:
    """What the rest of mail needs from one raw message."""

    sender: str  # the From address, lower case
    sender_name: str
    subject: str
    message_id: str
    reply_to: str
    auth_failures: list[str]
    attachments: list[Attachment] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    body: str = ""


@dataclass
class Limits:
    """Zip unpacking limits (``[mail] zip_max_files / zip_max_mb / zip_max_ratio``)."""

    max_files: int = 50
    max_bytes: int = 500 << 20
    max_ratio: float = 200.0

    @classmethod
    def from_config(cls, config: object) -> Limits:
        get = config.get  # type: ignore[attr-defined]
        return cls(int(get("mail", "zip_max_files")), int(float(get("mail", "zip_max_mb")) * (1 << 20)),
                   float(get("mail", "zip_max_ratio")))


# ----------------------------------------------------------------------------------------------- names
def _bytes_text(raw: bytes) -> str:
    """8-bit bytes as text: UTF-8 when they are valid UTF-8, else GB18030 (a superset of GBK and GB2312)."""
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _unsurrogate(text: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes (compat32 parsing): decode them as bytes."""
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        return _bytes_text(text.encode("ascii", "surrogateescape"))
    return text


def decode_words(text: str) -> str:
    """RFC 2047 encoded-words anywhere in the text (several in a row join without the space between)."""
    if "=?" not in text:
        return text
    # Outlook and Foxmail label GBK text "gb2312"; GB18030 decodes both (and everything GBK adds).
    text = _GB_LABEL.sub("=?gb18030?", text)
    try:
        return str(make_header(decode_header(text)))
    except (UnicodeDecodeError, LookupError, ValueError, email.errors.HeaderParseError):
        return text


def clean_name(name: str) -> str:
    """The last path component of a name, without control characters or characters Windows forbids."""
    name = _CONTROL.sub("", name).replace("\\", "/").split("/")[-1]
    name = re.sub(r'[:*?"<>|]', "_", name).strip(" .")
    return name[:200]


def filename_of(part: Message) -> str:
    """The attachment's file name as the sender's client meant it ('' when it has none)."""
    raw = None
    # Raw 8-bit header bytes (GBK, UTF-8 typed straight into the header) are read from the raw header text,
    # turned into characters first, then parsed as parameters.
    fixed = Message()
    for hname, hvalue in part.raw_items():
        if hname.lower() in ("content-disposition", "content-type"):
            fixed[hname] = _unsurrogate(str(hvalue))
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = fixed.get_param(param, header=header)
        if value:
            raw = value
            break
    if raw is None:
        return ""
    if isinstance(raw, tuple):  # RFC 2231: (charset, language, %-decoded text), continuations joined
        charset, _lang, text = raw
        data = text.encode("latin-1", "surrogateescape") if isinstance(text, str) else text
        if (charset or "").lower() in GB_CHARSETS:
            charset = "gb18030"
        try:
            name = data.decode(charset or "utf-8")
        except (LookupError, UnicodeDecodeError):
            name = _bytes_text(data)
    else:
        name = email.utils.collapse_rfc2231_value(raw)
        name = _unsurrogate(name)
        if _ENCODED_WORD.search(name):
            name = decode_words(name)
    return clean_name(name)


def _header_text(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    return decode_words(_unsurrogate(str(value))).strip()


def auth_failures(msg: Message) -> list[str]:
    """'dkim=fail' and the like in Authentication-Results headers the receiving server added."""
    found = []
    for value in msg.get_all("Authentication-Results", []) or []:
        for method, result in re.findall(r"\b(dkim|spf|dmarc)\s*=\s*([a-z]+)", str(value), flags=re.I):
            if result.lower() in ("fail", "permerror"):
                found.append(f"{method.lower()}={result.lower()}")
    return sorted(set(found))


def _body_text(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                return payload.decode(charset, errors="replace")
            except LookupError:
                return _bytes_text(payload)
    return ""


# ----------------------------------------------------------------------------------------------- zip
def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    return _bytes_text(raw)


def unpack_zip(name: str, data: bytes, limits: Limits) -> tuple[list[Attachment], list[Skipped]]:
    """The spreadsheets inside a zip archive, within the limits; everything else is said why it was left."""
    found: list[Attachment] = []
    skipped: list[Skipped] = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [], [Skipped(name, f"压缩包无法打开（{exc}），请重新压缩或直接附上表格文件")]
    if len(infos) > limits.max_files:
        return [], [Skipped(name, f"压缩包中有 {len(infos)} 个文件，超过上限 {limits.max_files} 个，请分开发送")]
    total = sum(i.file_size for i in infos)
    if total > limits.max_bytes:
        return [], [Skipped(name, f"压缩包解压后共 {total >> 20} MB，超过上限 {limits.max_bytes >> 20} MB")]
    for info in infos:
        member = _member_name(info)
        shown = f"{name}／{member}"
        base = clean_name(member)
        if info.flag_bits & 0x1:
            skipped.append(Skipped(shown, "压缩包中的文件设置了密码，无法读取，请不加密重新压缩"))
            continue
        if info.file_size > max(info.compress_size, 1) * limits.max_ratio:
            skipped.append(Skipped(shown, f"压缩比异常（超过 {limits.max_ratio:.0f} 倍），疑似压缩炸弹，未解压"))
            continue
        if not base.lower().endswith(SPREADSHEET_SUFFIXES):
            if base and not base.startswith(("._", "~$")) and "__MACOSX" not in member:
                skipped.append(Skipped(shown, "不是表格文件"))
            continue
        try:
            with archive.open(info) as fh:
                content = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            skipped.append(Skipped(shown, f"无法解压（{exc}）"))
            continue
        if len(content) > info.file_size:
            skipped.append(Skipped(shown, "解压后的大小与压缩包记录的不符，未处理"))
            continue
        found.append(Attachment(base, content, container=name))
    return found, skipped


# ----------------------------------------------------------------------------------------------- message
def parse_message(raw: bytes, limits: Limits | None = None) -> ParsedMessage:
    """Sender, subject, body and attachments of a raw RFC 5322 message."""
    limits = limits or Limits()
    msg = email.message_from_bytes(raw)  # compat32: raw 8-bit header bytes stay recoverable
    sender_name, sender = parseaddr(_header_text(msg, "From"))
    reply_to = ""
    replies = getaddresses([_header_text(msg, "Reply-To")]) if msg.get("Reply-To") else []
    if replies and replies[0][1]:
        reply_to = replies[0][1].lower()
    out = ParsedMessage(
        sender=sender.strip().lower(), sender_name=sender_name.strip(), subject=_header_text(msg, "Subject"),
        message_id=str(msg.get("Message-ID", "") or "").strip(), reply_to=reply_to,
        auth_failures=auth_failures(msg), body=_body_text(msg))
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = filename_of(part)
        disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        if not name and disposition != "attachment":
            continue  # the body itself (text, html, inline images without a name)
        data = part.get_payload(decode=True) or b""
        ctype = part.get_content_type()
        if not name:
            name = "附件" + SPREADSHEET_TYPES.get(ctype, "")
        low = name.lower()
        if not low.endswith(SPREADSHEET_SUFFIXES + ZIP_SUFFIXES) and ctype in SPREADSHEET_TYPES \
                and "." not in name:
            name += SPREADSHEET_TYPES[ctype]
            low = name.lower()
        if low.endswith(ZIP_SUFFIXES):
            got, why = unpack_zip(name, data, limits)
            out.attachments.extend(got)
            out.skipped.extend(why)
        elif low.endswith(SPREADSHEET_SUFFIXES):
            out.attachments.append(Attachment(name, data))
        elif disposition == "attachment" or not ctype.startswith("image/"):
            out.skipped.append(Skipped(name, "不是表格文件（本系统只处理 .xlsx、.xls、.ods、.csv 及其 zip 压缩包）"))
    return out
