"""Writes a synthetic MovieLens folder in the latest format at ml-20m's size: ratings.csv
(20M ratings of 138,493 users on 26,744 movies), movies.csv, tags.csv (465k tags) and the tag
genome (genome-scores.csv: 10,381 movies x 1,128 tags; genome-tags.csv). Ids, counts and
field layouts follow ml-20m; values are random (seeded).

usage: python generate.py OUT_DIR [--ratings N]
"""
import os
import sys

import numpy as np

out = sys.argv[1]
n_ratings = int(sys.argv[sys.argv.index("--ratings") + 1]) if "--ratings" in sys.argv else 20_000_263
n_users, n_movies, n_genome_movies, n_genome_tags, n_tags = 138_493, 26_744, 10_381, 1_128, 465_564
rng = np.random.default_rng(7)
os.makedirs(out, exist_ok=True)
movie_ids = np.sort(rng.choice(np.arange(1, 131_263), n_movies, replace=False))


def write_chunks(path, header, rows, make):
    with open(path, "w") as f:
        f.write(header + "\n")
        step = 1_000_000
        for start in range(0, rows, step):
            f.write(make(start, min(rows, start + step)))


# Ratings grouped by user, as GroupLens writes them; popular movies rated more often.
per_user = rng.multinomial(n_ratings, np.full(n_users, 1 / n_users))
users = np.repeat(np.arange(1, n_users + 1), per_user)
pop = 1 / np.arange(1, n_movies + 1) ** 0.8
movies = movie_ids[rng.choice(n_movies, n_ratings, p=pop / pop.sum())]
stars = rng.integers(1, 11, n_ratings) / 2
times = rng.integers(789_652_009, 1_427_784_002, n_ratings)


def ratings(a, b):
    return "".join(f"{u},{m},{r:.1f},{t}\n" for u, m, r, t in zip(users[a:b].tolist(), movies[a:b].tolist(), stars[a:b].tolist(), times[a:b].tolist()))


write_chunks(f"{out}/ratings.csv", "userId,movieId,rating,timestamp", n_ratings, ratings)
genres = "Action|Adventure|Animation|Children|Comedy|Crime|Documentary|Drama|Fantasy|Film-Noir|Horror|Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western".split("|")
with open(f"{out}/movies.csv", "w") as f:
    f.write("movieId,title,genres\n")
    for k, m in enumerate(movie_ids.tolist()):
        g = "|".join(rng.choice(genres, int(rng.integers(1, 4)), replace=False))
        f.write(f'{m},"Movie {m}, The ({1900 + k % 115})",{g}\n')
words = [f"tag{k}" for k in range(38_000)]
tag_users = rng.integers(1, n_users + 1, n_tags)
tag_movies = movie_ids[rng.integers(0, n_movies, n_tags)]
tag_words = rng.integers(0, len(words), n_tags)
tag_times = rng.integers(1_135_429_210, 1_427_771_352, n_tags)
with open(f"{out}/tags.csv", "w") as f:
    f.write("userId,movieId,tag,timestamp\n")
    f.write("".join(f"{u},{m},{words[w]},{t}\n" for u, m, w, t in zip(tag_users.tolist(), tag_movies.tolist(), tag_words.tolist(), tag_times.tolist())))
with open(f"{out}/genome-tags.csv", "w") as f:
    f.write("tagId,tag\n" + "".join(f"{k},genome{k}\n" for k in range(1, n_genome_tags + 1)))
genome_movies = movie_ids[:n_genome_movies]


def genome(a, b):
    # Rows a..b of movie-major (movie, tag) pairs.
    k = np.arange(a, b)
    rel = rng.random(b - a)
    return "".join(f"{m},{t},{r}\n" for m, t, r in zip(genome_movies[k // n_genome_tags].tolist(), (k % n_genome_tags + 1).tolist(), rel.tolist()))


write_chunks(f"{out}/genome-scores.csv", "movieId,tagId,relevance", n_genome_movies * n_genome_tags, genome)
print(f"wrote {out}: {n_ratings} ratings, {n_movies} movies, {n_tags} tags, {n_genome_movies} x {n_genome_tags} genome scores")
