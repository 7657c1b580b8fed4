// A tiny module for the gate's report fixtures.
function shout(text) {
  return text.toUpperCase() + "!";
}

function initials(name) {
  if (!name) {
    throw new Error("no name given");
  }
  return name
    .split(" ")
    .map((part) => part[0])
    .join("");
}

function untested(value) {
  return value * 3;
}

module.exports = { shout, initials, untested };
