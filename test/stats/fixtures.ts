/**
 * Textbook data sets shared by the statistics tests. Reference values in the tests were computed
 * with `python3` on the development machine: SciPy 1.17.1, NumPy 2.4.6 (Debian's python3-scipy
 * 1.10.1 agrees to 1e-10 where it has the function); each test carries the snippet beside the value.
 */

// R: datasets::sleep (Student 1908), extra for group 1 and group 2, the same ten patients.
export const SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
export const SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
