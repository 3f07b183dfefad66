// One key per category, the same on the labeling page and in review ("F then the key").
// Default: 1-9 pick the first nine categories and 0 the tenth, like the digit row. When the categories are named
// by digits ("0".."9" or "zero".."nine", e.g. MNIST), a positional key would trap the volunteer (1 picking "zero"),
// so each such category gets its own digit instead and the others get the letters that are left.
const WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
const LETTERS = "bcdeghlmopqtuvwxy"; // not a, f, i, j, k, n, r, s, z: the pages' own keys

export function digitOf(name) {
  const n = String(name).trim().toLowerCase();
  if (/^[0-9]$/.test(n)) return n;
  const i = WORDS.indexOf(n);
  return i >= 0 ? String(i) : null;
}

// names -> keys (a string per name, or null past the keys there are).
export function categoryKeys(names) {
  const digits = names.map(digitOf);
  if (digits.some((d) => d !== null)) {
    const letters = LETTERS.split("");
    const used = new Set();
    return digits.map((d) => {
      if (d !== null && !used.has(d)) {
        used.add(d);
        return d;
      }
      return letters.shift() || null;
    });
  }
  return names.map((_, i) => (i < 9 ? String(i + 1) : i === 9 ? "0" : null));
}

// Whether the mapping gives "0" to a category (then None / unsure is N only).
export const zeroTaken = (keys) => keys.includes("0");
