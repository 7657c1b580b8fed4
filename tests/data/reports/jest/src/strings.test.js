const { shout, initials } = require("./strings");

describe("shout", () => {
  test("adds an exclamation mark", () => {
    expect(shout("hi")).toBe("HI!");
  });
  test("is wrong on purpose", () => {
    expect(shout("a < b & c")).toBe("a < b & c");
  });
});

describe("initials", () => {
  describe("of full names", () => {
    test("takes first letters", () => {
      expect(initials("Ada Lovelace")).toBe("AL");
    });
    test.skip("handles hyphens", () => {
      expect(initials("Jean-Paul Sartre")).toBe("JPS");
    });
    test.todo("handles empty parts");
  });
  test("throws without a name", () => {
    expect(() => initials("")).toThrow("no name given");
  });
  test("crashes on purpose", () => {
    initials(undefined);
  });
});
