//! Container names: Docker-style random `adjective_surname` names (`pensive_turing`) and Docker's
//! rule for names given with `--name`.

use rand::seq::SliceRandom;

/// The characters Docker allows in a container name, as its error message spells them.
pub const NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// Plain random names tried before falling back to a numeric suffix.
const PLAIN_ATTEMPTS: usize = 5;

/// A name that breaks Docker's rule `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`; the message is Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
pub struct InvalidName(pub String);

/// A random free `adjective_surname` name; `taken` says whether a name is in use. After a few
/// taken names, one gets a numeric suffix (`_2`, `_3`, …) until it is free.
pub fn random_name(taken: impl Fn(&str) -> bool) -> String {
    let mut rng = rand::thread_rng();
    let mut pick = || loop {
        let adjective = ADJECTIVES.choose(&mut rng).expect("adjectives");
        let surname = SURNAMES.choose(&mut rng).expect("surnames");
        // Steve Wozniak is not boring (Docker's rule too).
        if (*adjective, *surname) != ("boring", "wozniak") {
            return format!("{adjective}_{surname}");
        }
    };
    for _ in 0..PLAIN_ATTEMPTS {
        let name = pick();
        if !taken(&name) {
            return name;
        }
    }
    let name = pick();
    (2u64..)
        .map(|n| format!("{name}_{n}"))
        .find(|candidate| !taken(candidate))
        .expect("some suffix is free")
}

/// Whether `s` matches Docker's container-name rule `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
pub fn valid_name(s: &str) -> bool {
    let s = s.strip_prefix('/').unwrap_or(s).as_bytes();
    match s.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphanumeric()
                && !rest.is_empty()
                && rest
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        }
        None => false,
    }
}

/// `Ok` for a valid name, else Docker's error for it.
pub fn check_name(s: &str) -> Result<(), InvalidName> {
    if valid_name(s) {
        Ok(())
    } else {
        Err(InvalidName(s.to_string()))
    }
}

/// First halves of generated names.
#[rustfmt::skip]
pub const ADJECTIVES: &[&str] = &[
    "admiring", "adoring", "agile", "amazing", "amused", "ardent", "awesome", "blissful", "bold",
    "boring", "brave", "bright", "brisk", "busy", "calm", "candid", "careful", "charming",
    "cheerful", "clever", "cool", "cosmic", "curious", "daring", "dazzling", "dreamy", "eager",
    "earnest", "elated", "elegant", "eloquent", "epic", "fervent", "festive", "fearless", "focused",
    "friendly", "frosty", "funny", "gallant", "gentle", "gifted", "glad", "gracious", "happy",
    "hardy", "hopeful", "humble", "hungry", "inspired", "jolly", "jovial", "keen", "kind",
    "laughing", "lively", "loving", "lucid", "lucky", "magical", "merry", "mindful", "modest",
    "musing", "mystic", "nifty", "nimble", "noble", "nostalgic", "optimistic", "patient",
    "peaceful", "pensive", "playful", "plucky", "polite", "practical", "proud", "quiet", "quirky",
    "radiant", "relaxed", "reverent", "serene", "sharp", "sincere", "sleepy", "smiling", "spirited",
    "steady", "stoic", "sunny", "sweet", "tender", "thirsty", "tidy", "trusting", "upbeat",
    "vibrant", "vigilant", "vigorous", "witty", "wonderful", "youthful", "zealous", "zen", "zesty",
];

/// Second halves of generated names: surnames of notable scientists and engineers.
#[rustfmt::skip]
pub const SURNAMES: &[&str] = &[
    // Physics and astronomy.
    "ampere", "bardeen", "becquerel", "bell", "bethe", "bohr", "boltzmann", "born", "bose", "bragg",
    "brahe", "cannon", "cavendish", "chadwick", "chandrasekhar", "cherenkov", "coulomb", "curie",
    "dirac", "doppler", "einstein", "faraday", "fermi", "feynman", "fresnel", "galilei", "ghez",
    "hawking", "heisenberg", "herschel", "hertz", "hubble", "huygens", "joule", "kapitsa", "kepler",
    "landau", "leavitt", "lebedev", "lemaitre", "lorentz", "maxwell", "meitner", "michelson",
    "millikan", "newton", "noether", "pauli", "payne", "penrose", "planck", "raman", "roentgen",
    "rubin", "rutherford", "sagan", "saha", "sakharov", "schrodinger", "schwinger", "strickland",
    "tamm", "tesla", "thomson", "tomonaga", "townes", "volta", "wu", "yang", "yukawa", "zeeman",
    // Mathematics.
    "agnesi", "bernoulli", "cantor", "cauchy", "cayley", "chebyshev", "euler", "fermat", "fourier",
    "galois", "gauss", "germain", "hilbert", "kolmogorov", "kovalevskaya", "lagrange", "laplace",
    "leibniz", "lobachevsky", "lyapunov", "markov", "mirzakhani", "napier", "nash", "neumann",
    "pascal", "perelman", "poincare", "ramanujan", "riemann", "tao", "weierstrass", "wiles", "yau",
    // Chemistry, biology and medicine.
    "arrhenius", "avogadro", "blackburn", "boyle", "carson", "cori", "crick", "dalton", "darwin",
    "doudna", "elion", "fleming", "fossey", "franklin", "goodall", "greider", "hodgkin", "jenner",
    "khorana", "kitasato", "koch", "lavoisier", "lister", "margulis", "mcclintock", "mendel",
    "mendeleev", "noguchi", "pasteur", "pauling", "pavlov", "salk", "sanger", "tu", "watson",
    "yalow", "yamanaka", "yonath",
    // Computing and engineering.
    "adleman", "allen", "babbage", "backus", "bartik", "borg", "brattain", "cerf", "conway", "cray",
    "diffie", "dijkstra", "edison", "engelbart", "estrin", "goldberg", "goldwasser", "hamilton",
    "hamming", "hellman", "hoare", "holberton", "hollerith", "hopper", "jackson", "johnson", "kahn",
    "kilby", "kleinrock", "knuth", "lamarr", "lamport", "liskov", "marconi", "mccarthy", "merkle",
    "metcalfe", "minsky", "morse", "noyce", "nyquist", "perlman", "rivest", "ritchie", "sammet",
    "shamir", "shannon", "shockley", "stroustrup", "sutherland", "tanenbaum", "thompson",
    "torvalds", "turing", "vaughan", "wiener", "wilkes", "wing", "wirth", "wozniak", "zuse",
    // India, Japan and the Americas.
    "bhabha", "kalam", "sarabhai", "mahalanobis", "esaki", "akasaki", "nakamura", "jemison", "ride",
    "easley",
    // Brazil and Portugal.
    "andrada", "avila", "brazil", "chagas", "cruz", "damasio", "dumont", "gleiser", "goeldi",
    "gottlieb", "gusmao", "landell", "lattes", "lopes", "lutz", "moniz", "nicolelis", "nobre",
    "nunes", "nussenzweig", "orta", "peixoto", "ribas", "schenberg", "tiomno", "viana", "zatz",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashSet;

    #[test]
    fn lists_are_big_clean_and_unique() {
        assert!(ADJECTIVES.len() >= 90, "{} adjectives", ADJECTIVES.len());
        assert!(SURNAMES.len() >= 200, "{} surnames", SURNAMES.len());
        // Docker's easter egg is only meaningful if both halves can come up.
        assert!(ADJECTIVES.contains(&"boring") && SURNAMES.contains(&"wozniak"));
        for list in [ADJECTIVES, SURNAMES] {
            let set: HashSet<_> = list.iter().collect();
            assert_eq!(set.len(), list.len(), "duplicates in a list");
            for w in list {
                assert!(
                    w.bytes().all(|c| c.is_ascii_lowercase()),
                    "{w:?} is not lowercase ASCII"
                );
            }
        }
    }

    #[test]
    fn random_names_look_like_docker_ones_and_are_valid() {
        for _ in 0..500 {
            let name = random_name(|_| false);
            let (a, s) = name.split_once('_').expect("adjective_surname");
            assert!(ADJECTIVES.contains(&a), "{name}");
            assert!(SURNAMES.contains(&s), "{name}");
            assert!(valid_name(&name), "{name}");
            assert_ne!(name, "boring_wozniak");
        }
    }

    #[test]
    fn names_vary() {
        let names: HashSet<String> = (0..50).map(|_| random_name(|_| false)).collect();
        assert!(names.len() > 40, "only {} distinct names", names.len());
    }

    #[test]
    fn taken_names_are_skipped() {
        let asked = RefCell::new(Vec::new());
        let taken = |n: &str| {
            asked.borrow_mut().push(n.to_string());
            asked.borrow().len() <= 2
        };
        let name = random_name(taken);
        let asked = asked.into_inner();
        assert_eq!(asked.len(), 3, "{asked:?}");
        assert_eq!(asked.last(), Some(&name));
        assert!(!name.contains(|c: char| c.is_ascii_digit()), "{name}");
    }

    #[test]
    fn a_numeric_suffix_when_plain_names_keep_being_taken() {
        let name = random_name(|n| !n.ends_with("_4"));
        let base = name.strip_suffix("_4").expect("suffix _4");
        assert!(valid_name(&name));
        let (a, s) = base.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&a) && SURNAMES.contains(&s), "{name}");
    }

    #[test]
    fn valid_names_follow_dockers_rule() {
        for ok in [
            "web",
            "/web",
            "a1",
            "My_App.v2-beta",
            "0x",
            "pensive_turing",
        ] {
            assert!(valid_name(ok), "{ok:?} should be valid");
            assert_eq!(check_name(ok), Ok(()));
        }
        for bad in [
            "", "/", "a", "/a", "_web", ".web", "-web", "web app", "web/app", "//web", "wéb",
            "web!", "web\n",
        ] {
            assert!(!valid_name(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn invalid_name_error_is_dockers() {
        assert_eq!(
            check_name("bad name").unwrap_err().to_string(),
            "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
        assert!(InvalidName("x".into()).to_string().contains(NAME_CHARS));
    }
}
