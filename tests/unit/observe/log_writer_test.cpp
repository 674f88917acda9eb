// Unit tests for the access log's background writer (proxy/observe/log_writer.hpp): lines reach
// the file whole and in order, a stalled reader makes push() refuse lines instead of blocking, a
// reopen (logrotate) switches files without losing, repeating or cutting a line, and a path that
// cannot be opened is an error naming it. FIFOs stand in for a log shipper that stops reading:
// the test opens the read end and reads nothing, so the pipe fills and the writer blocks.
//
// Every wait is bounded; the files live in a mkdtemp directory removed at the end.
#include "proxy/observe/log_writer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace cutover::observe {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The queue bound of the writers here (access_log.buffer's default), and a small one for the
// tests that fill it.
constexpr std::size_t kQueueBytes = 4 * 1024 * 1024;
constexpr std::size_t kSmallQueueBytes = 64 * 1024;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cutover-log-writer-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Polls `done` every 2ms for at most `timeout`.
bool wait_until(const std::function<bool()>& done, Clock::duration timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Line `i`, `size` bytes including its '\n': "line 000042 xxxx...x\n".
std::string make_line(int i, std::size_t size) {
  char head[16];
  std::snprintf(head, sizeof head, "line %06d ", i);
  std::string line(head);
  line.resize(size - 1, static_cast<char>('a' + i % 26));
  line.push_back('\n');
  return line;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l;
  return out;
}

// `data` cut at each '\n' (kept); what follows the last one goes to `fragment`.
std::vector<std::string> split_lines(const std::string& data, std::string* fragment = nullptr) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl = data.find('\n'); nl != std::string::npos; nl = data.find('\n', start)) {
    out.push_back(data.substr(start, nl + 1 - start));
    start = nl + 1;
  }
  if (fragment) *fragment = data.substr(start);
  return out;
}

// The read end of a FIFO, opened before the writer so that its non-blocking open succeeds; reads
// nothing until asked to.
class FifoReader {
 public:
  explicit FifoReader(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  }
  ~FifoReader() { ::close(fd_); }
  FifoReader(const FifoReader&) = delete;
  FifoReader& operator=(const FifoReader&) = delete;

  // The pipe's capacity set to one page, so a few lines fill it.
  bool shrink() { return ::fcntl(fd_, F_SETPIPE_SZ, 4096) >= 0; }
  // Bytes in the pipe, not yet read.
  int buffered() const {
    int n = 0;
    return ::ioctl(fd_, FIONREAD, &n) == 0 ? n : -1;
  }
  // True once the pipe holds data and has not changed for 100ms: the writer is blocked on it.
  bool wait_stalled(Clock::duration timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    int last = -1;
    int same = 0;
    while (Clock::now() < deadline) {
      const int n = buffered();
      same = (n > 0 && n == last) ? same + 1 : 0;
      if (same >= 5) return true;
      last = n;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  // Reads until end of file: the pipe is empty and no writer has it open, once `writer_gone`
  // (nullptr: already) says the writer will not open it again. At most `timeout`.
  std::string drain(const std::atomic<bool>* writer_gone = nullptr, Clock::duration timeout = 10s) {
    std::string out;
    const auto deadline = Clock::now() + timeout;
    char buf[65536];
    while (Clock::now() < deadline) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {  // no writer right now: between a reopen's close and open, or for good
        if (!writer_gone || writer_gone->load()) return out;
        std::this_thread::sleep_for(1ms);
      } else if (errno == EAGAIN || errno == EINTR) {
        pollfd p{fd_, POLLIN, 0};
        ::poll(&p, 1, 10);
      } else {
        ADD_FAILURE() << "read: " << std::strerror(errno);
        return out;
      }
    }
    ADD_FAILURE() << "the FIFO did not reach end of file in time";
    return out;
  }

 private:
  int fd_;
};

std::string make_fifo(const TempDir& dir, const std::string& name) {
  const std::string path = dir.file(name);
  if (::mkfifo(path.c_str(), 0600) != 0) throw std::runtime_error("mkfifo: " + std::string(std::strerror(errno)));
  return path;
}

// ---- regular files ----------------------------------------------------------------------------

TEST(LogWriter, LinesReachTheFileWholeAndInOrderAndTheDestructorFlushes) {
  TempDir dir;
  const std::string path = dir.file("access.log");
  { std::ofstream(path) << "written before\n"; }
  std::vector<std::string> lines;
  for (int i = 0; i < 5000; ++i) lines.push_back(make_line(i, 20 + (i * 37) % 300));
  {
    LogWriter w(path, kQueueBytes, nullptr);
    EXPECT_EQ(w.path(), path);
    for (auto line : lines) ASSERT_TRUE(w.push(std::move(line)));
    EXPECT_EQ(w.lost(), 0u);
  }
  // Appended to what was there, nothing lost when the destructor ran straight after the pushes.
  EXPECT_EQ(read_file(path), "written before\n" + join(lines));
}

TEST(LogWriter, LinesPushedFromSeveralThreadsAreEachWrittenWholeOnce) {
  TempDir dir;
  const std::string path = dir.file("access.log");
  constexpr int kThreads = 4, kEach = 2000;
  {
    LogWriter w(path, kQueueBytes, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&w, t] {
        for (int i = 0; i < kEach; ++i) EXPECT_TRUE(w.push(make_line(t * kEach + i, 40 + i % 200)));
      });
    for (auto& t : threads) t.join();
  }
  std::string fragment;
  const auto got = split_lines(read_file(path), &fragment);
  EXPECT_EQ(fragment, "");
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kThreads * kEach));
  std::vector<int> seen(kThreads * kEach, 0);
  std::vector<int> last(kThreads, -1);
  for (const auto& line : got) {
    const int i = std::stoi(line.substr(5, 6));
    ASSERT_GE(i, 0);
    ASSERT_LT(i, kThreads * kEach);
    EXPECT_EQ(line, make_line(i, 40 + (i % kEach) % 200));
    ++seen[i];
    EXPECT_GT(i, last[i / kEach]) << "one thread's lines out of order";  // each thread's in its order
    last[i / kEach] = i;
  }
  for (int i = 0; i < kThreads * kEach; ++i) EXPECT_EQ(seen[i], 1) << "line " << i;
}

TEST(LogWriter, ConstructorThrowsNamingThePathWhenItCannotBeOpened) {
  TempDir dir;
  const std::string missing = dir.file("no-such-dir/sub/access.log");
  try {
    LogWriter w(missing, kQueueBytes, nullptr);
    ADD_FAILURE() << "no exception for " << missing;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(missing), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(dir.file("no-such-dir")));

  // A directory is no log file either.
  try {
    LogWriter w(dir.file(""), kQueueBytes, nullptr);
    ADD_FAILURE() << "no exception for a directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("")), std::string::npos) << e.what();
  }
}

TEST(LogWriter, ReopenAfterRenameSendsNewLinesToANewFileAtThePath) {
  TempDir dir;
  const std::string path = dir.file("access.log");
  const std::string rotated = dir.file("access.log.1");
  std::vector<std::string> before, after, third;
  for (int i = 0; i < 100; ++i) before.push_back(make_line(i, 80));
  for (int i = 100; i < 200; ++i) after.push_back(make_line(i, 90));
  for (int i = 200; i < 210; ++i) third.push_back(make_line(i, 70));
  {
    LogWriter w(path, kQueueBytes, nullptr);
    for (auto line : before) ASSERT_TRUE(w.push(std::move(line)));
    // The lines are in the file before it is renamed (as logrotate finds them).
    ASSERT_TRUE(wait_until([&] { return fs::file_size(path) == join(before).size(); }));
    fs::rename(path, rotated);
    w.reopen();
    for (auto line : after) ASSERT_TRUE(w.push(std::move(line)));
    // Without a rename a reopen keeps appending to the same file.
    ASSERT_TRUE(wait_until([&] { return fs::exists(path) && fs::file_size(path) == join(after).size(); }));
    w.reopen();
    for (auto line : third) ASSERT_TRUE(w.push(std::move(line)));
  }
  EXPECT_EQ(read_file(rotated), join(before));
  EXPECT_EQ(read_file(path), join(after) + join(third));
}

TEST(LogWriter, ReopenWhileIdleTakesEffectForTheNextLine) {
  TempDir dir;
  const std::string path = dir.file("access.log");
  LogWriter w(path, kQueueBytes, nullptr);
  ASSERT_TRUE(w.push(make_line(1, 50)));
  ASSERT_TRUE(wait_until([&] { return fs::file_size(path) == 50; }));
  fs::rename(path, dir.file("access.log.1"));
  w.reopen();
  ASSERT_TRUE(w.push(make_line(2, 60)));
  EXPECT_TRUE(wait_until([&] { return fs::exists(path) && read_file(path) == make_line(2, 60); }));
  EXPECT_EQ(read_file(dir.file("access.log.1")), make_line(1, 50));
}

// ---- a reader that stops reading ----------------------------------------------------------------

TEST(LogWriter, PushRefusesLinesOnceTheQueueIsFullAndTakesThemAgainWhenTheReaderReads) {
  TempDir dir;
  const std::string path = make_fifo(dir, "access.fifo");
  FifoReader reader(path);
  ASSERT_TRUE(reader.shrink());
  constexpr std::size_t kLine = 1024;
  constexpr std::size_t kQueueLines = kSmallQueueBytes / kLine;
  std::vector<std::string> accepted;
  std::atomic<bool> writer_gone{false};
  std::string drained;
  std::thread drainer;
  {
    LogWriter w(path, kSmallQueueBytes, nullptr);
    bool refused = false;
    for (std::size_t i = 0; i < 3 * kQueueLines && !refused; ++i) {
      std::string line = make_line(static_cast<int>(i), kLine);
      std::string copy = line;
      if (w.push(std::move(line)))
        accepted.push_back(std::move(copy));
      else
        refused = true;
    }
    ASSERT_TRUE(refused) << "push never refused a line";
    // The queue (queue_bytes) is full; besides it the writer holds the batch it is blocked on (at
    // most queue_bytes more) and the pipe one page.
    EXPECT_GE(accepted.size(), kQueueLines);
    EXPECT_LE(accepted.size(), 2 * kQueueLines + 4096 / kLine);
    // Nothing moves while nobody reads: still refused. 1024-byte lines fill the queue to the byte,
    // so even a one-byte line is too much.
    EXPECT_FALSE(w.push(make_line(999999, kLine)));
    EXPECT_FALSE(w.push(std::string("\n")));

    // The reader reads again: lines are taken again, and every accepted one arrives.
    drainer = std::thread([&] { drained = reader.drain(&writer_gone, 30s); });
    const std::string late = make_line(1000000, 64);
    EXPECT_TRUE(wait_until([&] { return w.push(std::string(late)); }, 10s));
    accepted.push_back(late);
    EXPECT_EQ(w.lost(), 0u);
  }
  writer_gone = true;
  drainer.join();
  EXPECT_TRUE(drained == join(accepted)) << "drained " << drained.size() << " bytes, accepted "
                                         << join(accepted).size();
}

TEST(LogWriter, AFifoNobodyOpensBlocksNeitherPushNorTheDestructorForLong) {
  TempDir dir;
  const std::string path = make_fifo(dir, "nobody.fifo");
  Clock::time_point stopping;
  {
    LogWriter w(path, kSmallQueueBytes, nullptr);  // a FIFO is opened by the writer thread, which waits for a reader
    const std::string line = make_line(0, 4096);
    std::size_t accepted = 0;
    while (accepted <= 3 * kSmallQueueBytes / line.size() && w.push(std::string(line))) ++accepted;
    EXPECT_GE(accepted, kSmallQueueBytes / line.size());
    EXPECT_LE(accepted, 2 * kSmallQueueBytes / line.size());
    stopping = Clock::now();
  }
  // kStopWait (2s) for each batch it still held: the lines are given up, the process can exit.
  EXPECT_LT(Clock::now() - stopping, 8s);
}

// The rotation of a log whose reader stalled: the pipe holds what was written before the reopen,
// the new file the rest. No line may be lost, written twice or cut (part in the pipe, part or all
// of it again in the file).
TEST(LogWriter, ReopenOfARenamedFifoWithAStalledReaderLosesRepeatsAndCutsNoLine) {
  TempDir dir;
  const std::string path = make_fifo(dir, "access.log");
  FifoReader reader(path);
  ASSERT_TRUE(reader.shrink());
  std::vector<std::string> accepted;
  {
    LogWriter w(path, kQueueBytes, nullptr);
    // 1000-byte lines do not divide the pipe's 4096 bytes: a write that fills it cuts a line.
    for (int i = 0; i < 300; ++i) {
      std::string line = make_line(i, 1000);
      accepted.push_back(line);
      ASSERT_TRUE(w.push(std::move(line)));
    }
    ASSERT_TRUE(reader.wait_stalled()) << "the writer never blocked on the full pipe";
    fs::rename(path, dir.file("access.log.1"));
    w.reopen();
    for (int i = 300; i < 400; ++i) {
      std::string line = make_line(i, 1000);
      accepted.push_back(line);
      ASSERT_TRUE(w.push(std::move(line)));
    }
    // The writer lets go of the FIFO for the new regular file at the path.
    EXPECT_TRUE(wait_until([&] { return fs::is_regular_file(path); }));
    EXPECT_EQ(w.lost(), 0u);
  }
  std::string fragment;
  const auto in_fifo = split_lines(reader.drain(), &fragment);
  EXPECT_EQ(fragment, "") << "a cut line was left in the pipe (" << fragment.size() << " bytes)";
  const auto in_file = split_lines(read_file(path));
  EXPECT_FALSE(in_fifo.empty());
  EXPECT_FALSE(in_file.empty());
  // The pipe holds the first lines, the file the rest, each line once and whole.
  ASSERT_EQ(in_fifo.size() + in_file.size(), accepted.size());
  for (std::size_t i = 0; i < in_fifo.size(); ++i) EXPECT_EQ(in_fifo[i], accepted[i]) << "pipe line " << i;
  for (std::size_t i = 0; i < in_file.size(); ++i)
    EXPECT_EQ(in_file[i], accepted[in_fifo.size() + i]) << "file line " << i;
}

// A reopen while the reader (still the same FIFO, not renamed) has stalled: what is written after
// the reopen goes to the same pipe, so a line already started there must not be started again.
TEST(LogWriter, ReopenOfTheSameFifoWithAStalledReaderCorruptsNoLine) {
  TempDir dir;
  const std::string path = make_fifo(dir, "access.log");
  FifoReader reader(path);
  ASSERT_TRUE(reader.shrink());
  std::vector<std::string> accepted;
  std::atomic<bool> writer_gone{false};
  std::string drained;
  std::thread drainer;
  {
    LogWriter w(path, kQueueBytes, nullptr);
    for (int i = 0; i < 300; ++i) {
      std::string line = make_line(i, 1000);
      accepted.push_back(line);
      ASSERT_TRUE(w.push(std::move(line)));
    }
    ASSERT_TRUE(reader.wait_stalled()) << "the writer never blocked on the full pipe";
    w.reopen();
    drainer = std::thread([&] { drained = reader.drain(&writer_gone); });
    for (int i = 300; i < 400; ++i) {
      std::string line = make_line(i, 1000);
      accepted.push_back(line);
      ASSERT_TRUE(w.push(std::move(line)));
    }
  }
  writer_gone = true;
  drainer.join();
  std::string fragment;
  const auto got = split_lines(drained, &fragment);
  EXPECT_EQ(fragment, "");
  ASSERT_EQ(got.size(), accepted.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], accepted[i]) << "line " << i;
}

// A disk that is full (/dev/full answers every write with ENOSPC): the lines are lost, counted in
// lost() and in the write-error counter, and pushing never fails or blocks because of it.
TEST(LogWriter, WriteErrorsLoseTheLinesAndCountThem) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("write_errors_total").Help("test").Register(registry);
  auto& errors = family.Add({});
  LogWriter w("/dev/full", kQueueBytes, &errors);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(w.push(make_line(i, 100)));
  ASSERT_TRUE(wait_until([&] { return w.lost() == 100; })) << "lost " << w.lost();
  EXPECT_EQ(errors.Value(), 100.0);
  ASSERT_TRUE(w.push(make_line(100, 100)));
  ASSERT_TRUE(wait_until([&] { return w.lost() == 101; }));
}

}  // namespace
}  // namespace cutover::observe
