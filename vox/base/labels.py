"""The label groups every experiment predicts or conditions on, and the
blog's class counts for them (its corpus: 1421 speakers, 53 birthplaces,
2 sexes).  Models are built with the counts of the corpus actually used;
the blog's counts size the faithful diagrams, benchmarks and defaults."""

#: Label groups, in the order of every (speaker, birthplace, sex) tuple.
GROUPS = ('speaker', 'birthplace', 'sex')

#: The blog corpus's class counts per group.
BLOG_N_CLASSES = (1421, 53, 2)
