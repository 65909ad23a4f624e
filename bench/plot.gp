# GFLOP/s of soma and each comparator: square sizes as lines, odd sizes as
# circles (top) and the GEMMs of one training step (bottom), one column per
# thread count. Data from bench/report.py --plot-dir; tools/bench runs it as
#   gnuplot -e "dir='DIR'; threads='1 2'; sq=1; st=1" bench/plot.gp -> DIR/gemm.png
# sq / st = 0 leave out the square or training-step row (no data for it).
if (!exists("dir")) dir = "."
if (!exists("threads")) threads = "1 2"
if (!exists("sq")) sq = 1
if (!exists("st")) st = 1
libs = "soma openblas blis onednn"
titles = "soma OpenBLAS BLIS oneDNN"
nl = words(libs)
nt = words(threads)
col(i, j) = 1 + (j - 1) * nl + i   # data column of lib i at thread index j

set terminal pngcairo size 900 * nt, 500 * (sq + st) font ",10"
set output dir . "/gemm.png"
set multiplot layout (sq + st), nt
set key top left
set grid ytics

do for [j = 1:nt * sq] {
    set title sprintf("sgemm, square and odd sizes, %s thread(s)", word(threads, j))
    set xlabel "n (m = n = k)"
    set ylabel "GFLOP/s"
    set logscale x 2
    set style data linespoints
    unset xtics
    set xtics (64, 128, 256, 512, 1024, 2048) rotate by 0
    set offsets graph 0.03, graph 0.03, 0, 0
    # Odd sizes as open circles in the library's colour beside its line.
    plot for [i = 1:nl] dir . "/square.dat" using 1:col(i, j) title word(titles, i) \
             lw 2 lc i, \
         for [i = 1:nl] dir . "/odd.dat" using 1:col(i, j) notitle \
             with points pt 6 ps 1.5 lc i
    unset logscale x
    set offsets 0, 0, 0, 0
}

do for [j = 1:nt * st] {
    set title sprintf("sgemm, training step of 784-128-64-10 (b = batch), %s thread(s)", word(threads, j))
    set xlabel ""
    set ylabel "GFLOP/s"
    set style data histogram
    set style histogram clustered gap 1
    set style fill solid 0.8 border -1
    set boxwidth 0.9
    set xtics rotate by -60 font ",8"
    plot for [i = 1:nl] dir . "/step.dat" using col(i, j):xtic(1) title word(titles, i)
}
unset multiplot
