/**
 * Bradley–Terry ratings by MM against a direct solve of the score equations in SciPy.
 */
import { describe, expect, it } from "vitest";
import { bradleyTerry, headToHead } from "../../src/stats/index.ts";

/*
 * Reference: the stationary point of the (regularised) log-likelihood, solved by SciPy:
 *   import numpy as np; from scipy.optimize import fsolve; from scipy.special import expit
 *   def fit(W, prior):
 *       W = np.array(W, float); n = len(W); N = W + W.T
 *       def grad(th):
 *           if prior == 0: th = np.append(th, -th.sum())
 *           g = np.array([sum(W[i,j] - N[i,j]*expit(th[i]-th[j]) for j in range(n) if j != i)
 *                         + prior/2 - prior*expit(th[i]) for i in range(n)])
 *           return g[:-1] if prior == 0 else g
 *       th = fsolve(grad, np.zeros(n-1 if prior == 0 else n), xtol=1e-14)
 *       if prior == 0: th = np.append(th, -th.sum())
 *       return np.exp(th)
 */
describe("bradleyTerry", () => {
  it("keeps an undefeated player finite with the default prior (one virtual draw)", () => {
    // fit([[0,3,2,4],[1,0,2,1],[0,1,0,2],[0,0,1,0]], 1)
    // -> [4.910589586050924, 1.4574876982879157, 0.5814954493974973, 0.26329685000211195]
    const wins = [
      [0, 3, 2, 4],
      [1, 0, 2, 1],
      [0, 1, 0, 2],
      [0, 0, 1, 0],
    ];
    const r = bradleyTerry(["a", "b", "c", "d"], wins);
    expect(r.converged).toBe(true);
    expect(r.ratings.map((x) => x.name)).toEqual(["a", "b", "c", "d"]);
    const expected = [4.910589586050924, 1.4574876982879157, 0.5814954493974973, 0.26329685000211195];
    r.ratings.forEach((x, i) => expect(x.strength).toBeCloseTo(expected[i]!, 7));
    expect(r.ratings[0]).toMatchObject({ rank: 1, wins: 9, games: 10 });
  });

  it("gives the maximum-likelihood fit without a prior when every player won and lost", () => {
    // fit([[0,3,1],[1,0,2],[2,1,0]], 0) -> [1.2013361798308204, 0.832406462727882, 1.0] (geometric mean 1)
    const r = bradleyTerry(
      ["x", "y", "z"],
      [
        [0, 3, 1],
        [1, 0, 2],
        [2, 1, 0],
      ],
      { prior: 0 },
    );
    const byName = Object.fromEntries(r.ratings.map((x) => [x.name, x.strength]));
    expect(byName.x).toBeCloseTo(1.2013361798308204, 8);
    expect(byName.y).toBeCloseTo(0.832406462727882, 8);
    expect(byName.z).toBeCloseTo(1.0, 8);
  });

  it("matches the closed form for two players: p_a / p_b = wins_a / wins_b", () => {
    const r = bradleyTerry(
      ["a", "b"],
      [
        [0, 6],
        [2, 0],
      ],
      { prior: 0 },
    );
    expect(r.ratings[0]!.strength / r.ratings[1]!.strength).toBeCloseTo(3, 9);
  });

  it("shares ranks between equal players and puts a player with no games at the reference", () => {
    const r = bradleyTerry(
      ["a", "b", "c"],
      [
        [0, 2, 0],
        [2, 0, 0],
        [0, 0, 0],
      ],
    );
    expect(r.ratings.map((x) => x.rank)).toEqual([1, 1, 1]);
    expect(r.ratings.every((x) => Math.abs(x.strength - 1) < 1e-9)).toBe(true);
  });

  it("refuses an undefeated player without a prior, bad matrices and empty populations", () => {
    expect(() =>
      bradleyTerry(
        ["a", "b"],
        [
          [0, 3],
          [0, 0],
        ],
        { prior: 0 },
      ),
    ).toThrow(/use prior > 0/);
    expect(() => bradleyTerry(["a", "b"], [[0, 1]])).toThrow(
      expect.objectContaining({ code: "STATS_INVALID_ARGUMENT" }),
    );
    expect(() =>
      bradleyTerry(
        ["a", "b"],
        [
          [0, -1],
          [1, 0],
        ],
      ),
    ).toThrow(/not a count/);
    expect(() =>
      bradleyTerry(
        ["a", "a"],
        [
          [0, 1],
          [1, 0],
        ],
      ),
    ).toThrow(/appears twice/);
    expect(() => bradleyTerry([], [])).toThrow(expect.objectContaining({ code: "STATS_EMPTY" }));
  });
});

describe("headToHead", () => {
  it("counts nightly wins, lower val_bpb winning, ties as halves", () => {
    const r = headToHead([
      { name: "a", values: [0.98, 0.97, 0.99] },
      { name: "b", values: [0.99, 0.97, 0.98] },
    ]);
    expect(r.wins).toEqual([
      [0, 1.5],
      [1.5, 0],
    ]);
    expect(
      headToHead(
        [
          { name: "a", values: [1, 2] },
          { name: "b", values: [0, 3] },
        ],
        "higher",
      ).wins[0],
    ).toEqual([0, 1]);
  });

  it("refuses series of different lengths", () => {
    expect(() =>
      headToHead([
        { name: "a", values: [1, 2] },
        { name: "b", values: [1] },
      ]),
    ).toThrow(expect.objectContaining({ code: "STATS_LENGTH_MISMATCH" }));
  });
});
