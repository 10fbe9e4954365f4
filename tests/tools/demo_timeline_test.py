#!/usr/bin/python3
"""demo_timeline_test: tools/demo_timeline.py (make demo's picture) on hand-written CSVs.

  demo_timeline_test.py SOURCE_DIR

Happy case: the fixture in tests/tools/demo_timeline/ (two nodes, node 1 down for 4 s between a
kill and a return, 4 failed client requests) gives a real PNG: the signature, an IHDR of at least
800 x 400 px, and, decoded with matplotlib, many colours including each node's line colour and
enough of the failed requests' red to be bars, not just a legend key.
Hostile cases: missing, empty, header-only, non-numeric, negative, binary and otherwise malformed
input exits 2 with one line naming the file (and the line), never a traceback and never a PNG;
events outside the time range and a huge gap between seconds still give a sane picture.
Runs with Debian's python3 and python3-matplotlib (scripts/deps/lab.list); no root, ~10 s.
"""

import os
import struct
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else ".")
TOOL = os.path.join(SOURCE_DIR, "tools", "demo_timeline.py")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "tools", "demo_timeline")
HEADER = "t_seconds,node,requests,failed\n"

# matplotlib's tab10 colours, which the tool gives nodes 1 and 2, and the failed requests' red.
NODE1_BLUE = (0x1F, 0x77, 0xB4)
NODE2_ORANGE = (0xFF, 0x7F, 0x0E)
FAILED_RED = (0xD6, 0x27, 0x28)


def pngSize(path):
    """(width, height) from the IHDR chunk, after checking the signature."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"{path}: not a PNG (signature {head[:8]!r})")
    if head[12:16] != b"IHDR":
        raise AssertionError(f"{path}: first chunk {head[12:16]!r}, want IHDR")
    return struct.unpack(">II", head[16:24])


def colourCounts(path):
    """{(r, g, b): pixels} of the decoded PNG."""
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.image  # pylint: disable=import-outside-toplevel
    import numpy  # pylint: disable=import-outside-toplevel

    pixels = (matplotlib.image.imread(path)[:, :, :3] * 255).round().astype(numpy.uint8)
    colours, counts = numpy.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    return {tuple(int(x) for x in c): int(n) for c, n in zip(colours, counts)}


class DemoTimelineTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="demo_timeline_test.")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text, mode="w"):
        path = os.path.join(self.dir, name)
        with open(path, mode) as f:
            f.write(text)
        return path

    def run_tool(self, *args):
        return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=60,
                              check=False)

    def assertPicture(self, timeline, *extra):
        out = os.path.join(self.dir, "out.png")
        r = self.run_tool(timeline, out, *extra)
        self.assertEqual(r.returncode, 0, f"stderr: {r.stderr}")
        self.assertNotIn("Traceback", r.stderr)
        width, height = pngSize(out)
        self.assertGreaterEqual(width, 800)
        self.assertGreaterEqual(height, 400)
        return out, r

    def assertRejected(self, timeline, want, *extra):
        """Exit 2, one line on stderr that names the file and contains `want`, and no PNG."""
        out = os.path.join(self.dir, "out.png")
        r = self.run_tool(timeline, out, *extra)
        self.assertEqual(r.returncode, 2, f"stdout: {r.stdout} stderr: {r.stderr}")
        self.assertNotIn("Traceback", r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"want one line, got: {r.stderr!r}")
        self.assertTrue(lines[0].startswith("demo_timeline: "), lines[0])
        self.assertIn(want, lines[0])
        self.assertFalse(os.path.exists(out), "a PNG was written for a rejected input")

    # --- the happy case

    def test_fixture_gives_a_picture_of_both_nodes_and_the_failures(self):
        out, r = self.assertPicture(os.path.join(FIXTURES, "timeline.csv"), "--events",
                                    os.path.join(FIXTURES, "events.csv"))
        self.assertEqual(r.stderr, "")
        counts = colourCounts(out)
        self.assertGreater(len(counts), 50, "too few colours: a blank picture?")
        # Node lines are 2 px wide over ~900 px of axis: hundreds of exact-colour pixels each.
        self.assertGreater(counts.get(NODE1_BLUE, 0), 300, "node 1's line is missing")
        self.assertGreater(counts.get(NODE2_ORANGE, 0), 300, "node 2's line is missing")
        # 4 failed requests, as bars ~75 px wide: thousands of red pixels; the legend key alone
        # is ~140.
        self.assertGreater(counts.get(FAILED_RED, 0), 1000, "the failed requests' bars are missing")

    def test_without_failures_there_are_no_red_bars(self):
        # The red check above can fail: the same fixture with every failure set to 0.
        with open(os.path.join(FIXTURES, "timeline.csv")) as f:
            rows = [l.rstrip("\n").split(",") for l in f]
        text = "\n".join(",".join(r[:3] + ["0"]) if r[1] == "client" else ",".join(r)
                         for r in rows) + "\n"
        out, _ = self.assertPicture(self.write("t.csv", text))
        self.assertLess(colourCounts(out).get(FAILED_RED, 0), 400)

    def test_events_outside_the_time_range_are_left_out_with_a_warning(self):
        events = self.write("e.csv", "t_seconds,label\n-5,before\n3,kill -9 node 1\n999,after\n")
        _, r = self.assertPicture(os.path.join(FIXTURES, "timeline.csv"), "--events", events)
        warnings = r.stderr.splitlines()
        self.assertEqual(len(warnings), 2, r.stderr)
        self.assertIn(f"{events}:2:", warnings[0])
        self.assertIn(f"{events}:4:", warnings[1])

    def test_a_huge_gap_between_seconds_is_a_sane_picture(self):
        seconds = list(range(0, 6)) + list(range(80000, 80006))
        rows = [f"{t},1,5,\n{t},client,5,0\n" for t in seconds]
        out, _ = self.assertPicture(self.write("t.csv", HEADER + "".join(rows)))
        self.assertGreater(len(colourCounts(out)), 20)

    def test_a_node_that_never_answered_and_no_events_file(self):
        rows = "".join(f"{t},1,,\n{t},2,3,\n{t},client,3,1\n" for t in range(5))
        self.assertPicture(self.write("t.csv", HEADER + rows))

    def test_a_header_only_events_file(self):
        events = self.write("e.csv", "t_seconds,label\n")
        self.assertPicture(os.path.join(FIXTURES, "timeline.csv"), "--events", events)

    # --- rejected input: exit 2, one line naming the file and line

    def test_missing_file(self):
        path = os.path.join(self.dir, "nope.csv")
        self.assertRejected(path, f"{path}: cannot read")

    def test_empty_file(self):
        path = self.write("t.csv", "")
        self.assertRejected(path, f"{path}:1: empty")

    def test_blank_lines_only(self):
        path = self.write("t.csv", "\n \n\n")
        self.assertRejected(path, f"{path}:1: empty")

    def test_header_only(self):
        path = self.write("t.csv", HEADER)
        self.assertRejected(path, f"{path}:1: the header only")

    def test_wrong_header(self):
        path = self.write("t.csv", "t,node,requests\n0,1,5\n")
        self.assertRejected(path, f"{path}:1: header")

    def test_non_numeric_requests(self):
        path = self.write("t.csv", HEADER + "0,1,5,\n1,1,lots,\n")
        self.assertRejected(path, f"{path}:3: requests 'lots' is not a whole number")

    def test_fractional_t(self):
        path = self.write("t.csv", HEADER + "0.5,1,5,\n")
        self.assertRejected(path, f"{path}:2: t_seconds '0.5'")

    def test_negative_requests(self):
        path = self.write("t.csv", HEADER + "0,1,5,\n1,2,-3,\n")
        self.assertRejected(path, f"{path}:3: requests -3 is negative")

    def test_negative_failed(self):
        path = self.write("t.csv", HEADER + "0,client,5,-1\n")
        self.assertRejected(path, f"{path}:2: failed -1 is negative")

    def test_negative_t(self):
        path = self.write("t.csv", HEADER + "-1,1,5,\n")
        self.assertRejected(path, f"{path}:2: t_seconds -1 is negative")

    def test_t_beyond_a_day(self):
        path = self.write("t.csv", HEADER + "0,1,5,\n100000,1,5,\n")
        self.assertRejected(path, f"{path}:3: t_seconds 100000 is beyond")

    def test_implausible_count(self):
        path = self.write("t.csv", HEADER + "0,1,99999999999999999999999,\n")
        self.assertRejected(path, f"{path}:2: requests 99999999999999999999999 is implausibly")

    def test_too_few_fields(self):
        path = self.write("t.csv", HEADER + "0,1,5,\n1,1\n")
        self.assertRejected(path, f"{path}:3: 2 fields, want 4")

    def test_unknown_node(self):
        path = self.write("t.csv", HEADER + "0,lb1,5,\n")
        self.assertRejected(path, f"{path}:2: node 'lb1'")

    def test_failed_on_a_node_row(self):
        path = self.write("t.csv", HEADER + "0,1,5,2\n")
        self.assertRejected(path, f"{path}:2: failed is for client rows")

    def test_client_row_without_failed(self):
        path = self.write("t.csv", HEADER + "0,client,5,\n")
        self.assertRejected(path, f"{path}:2: a client row needs both")

    def test_duplicate_second(self):
        path = self.write("t.csv", HEADER + "0,1,5,\n0,2,5,\n0,1,6,\n")
        self.assertRejected(path, f"{path}:4: second 0 of node 1 again (first on line 2)")

    def test_binary_junk(self):
        path = self.write("t.csv", HEADER.encode() + b"0,1,\x00\x01,\n", "wb")
        self.assertRejected(path, f"{path}:2: a NUL byte")

    def test_not_utf8(self):
        path = self.write("t.csv", HEADER.encode() + b"0,1,5,\n1,1,\xff\xfe,\n", "wb")
        self.assertRejected(path, f"{path}:3: not UTF-8")

    def test_unterminated_quote(self):
        path = self.write("t.csv", HEADER + '0,1,"5,\n')
        self.assertRejected(path, f"{path}:")

    def test_a_directory(self):
        self.assertRejected(self.dir, f"{self.dir}: cannot read")

    def test_malformed_events(self):
        timeline = os.path.join(FIXTURES, "timeline.csv")
        for text, want in [
            ("", ":1: empty"),
            ("t,label\n1,x\n", ":1: header"),
            ("t_seconds,label\nsoon,kill\n", ":2: t_seconds 'soon' is not a number"),
            ("t_seconds,label\nnan,kill\n", ":2: t_seconds 'nan' is not a finite"),
            ("t_seconds,label\ninf,kill\n", ":2: t_seconds 'inf' is not a finite"),
            ("t_seconds,label\n1,\n", ":2: empty label"),
            ("t_seconds,label\n1,kill,extra\n", ":2: 3 fields, want 2"),
            ("t_seconds,label\n1," + "x" * 81 + "\n", ":2: label longer than 80"),
        ]:
            with self.subTest(events=text):
                events = self.write("e.csv", text)
                self.assertRejected(timeline, events + want, "--events", events)

    def test_unwritable_output_is_one_line_exit_1(self):
        r = self.run_tool(os.path.join(FIXTURES, "timeline.csv"),
                          os.path.join(self.dir, "no", "such", "dir", "out.png"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("cannot write", r.stderr)

    def test_without_matplotlib_is_one_line_exit_1(self):
        # python3 -S: no site-packages, so no matplotlib, as on a machine not bootstrapped.
        out = os.path.join(self.dir, "out.png")
        r = subprocess.run([sys.executable, "-S", TOOL, os.path.join(FIXTURES, "timeline.csv"),
                            out], capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.splitlines(), [
            "demo_timeline: python3-matplotlib is not installed (scripts/bootstrap installs it)"])
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main(verbosity=2)
