/**
 * Text from the database made safe for an operator's terminal: anyone who can log in writes some
 * of it (a user agent, a revocation note, a user id), and a control character printed raw is an
 * instruction to the terminal (retitle, clear, move the cursor, forge a row). Each is shown
 * escaped instead, so the operator still sees what was written.
 */

/**
 * C0 (newline and tab included: they break a table's rows), DEL, C1 (0x9b is CSI on 8-bit
 * terminals), the line and paragraph separators, and the bidirectional marks and overrides that
 * can make text read other than it is.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this module's job.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** What `JSON.stringify` leaves raw of `UNSAFE` (it escapes C0 itself). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const hex = (char: string, width: number) => char.charCodeAt(0).toString(16).padStart(width, '0');

/** `text` with every unsafe character escaped: `\n`, `\r`, `\t`, `\xHH` up to 0xff, `\uHHHH` above. */
export function printable(text: string): string {
  return text.replace(
    UNSAFE,
    (char) => NAMED[char] ?? (char <= '\u00ff' ? `\\x${hex(char, 2)}` : `\\u${hex(char, 4)}`),
  );
}

/** JSON with no unsafe character left raw: the same value for any JSON reader. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (char) => `\\u${hex(char, 4)}`);
}
