//! Sorts a table of people with glibc's `qsort_r`, by sort keys chosen on
//! the command line, through a `#[callback]` *type*: the comparator is an
//! ordinary Rust closure that captures the keys and a comparison counter.
//!
//! ```text
//! cargo run -p examples --example sort_records               # a few orders in turn
//! cargo run -p examples --example sort_records -- city,-age  # city, then age descending
//! ```
//!
//! Keys are `name`, `age` and `city`, separated by commas; `-` before a key
//! reverses it. `Compare::scope` hands glibc the trampoline and a pointer to
//! the closure for the duration of the `qsort_r` call only. The panic policy
//! is the default, `resume`: a panic in the closure would make the
//! trampoline return `0` ("equal") to glibc, which cannot be stopped, stop
//! running the closure for the rest of the sort, and be re-raised, with its
//! payload, when `scope` returns.
//!
//! Linux with glibc only (`qsort_r` with the user data last).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    use std::cmp::Ordering;
    use std::ffi::{c_int, c_void};
    use std::process::ExitCode;

    use ffi_callback::callback;

    /// `qsort_r`'s comparator, as glibc's `<stdlib.h>` declares it:
    /// `int (*)(const void *, const void *, void *)`, the user data last.
    #[callback]
    type Compare = unsafe extern "C" fn(
        a: *const c_void,
        b: *const c_void,
        #[user_data] arg: *mut c_void,
    ) -> c_int;

    /// One row of the table. `qsort_r` moves rows around by copying their
    /// bytes: for a Rust value, that is a plain move.
    #[derive(Clone, Copy)]
    struct Record {
        name: &'static str,
        age: u32,
        city: &'static str,
    }

    const fn person(name: &'static str, age: u32, city: &'static str) -> Record {
        Record { name, age, city }
    }

    const PEOPLE: [Record; 8] = [
        person("Ines", 34, "Lisbon"),
        person("Kofi", 27, "Accra"),
        person("Mei", 41, "Osaka"),
        person("Arjun", 27, "Pune"),
        person("Sofia", 52, "Lisbon"),
        person("Lars", 34, "Oslo"),
        person("Amara", 19, "Accra"),
        person("Diego", 41, "Lisbon"),
    ];

    #[derive(Clone, Copy)]
    enum Field {
        Name,
        Age,
        City,
    }

    /// A field, ascending or descending.
    #[derive(Clone, Copy)]
    struct Key {
        field: Field,
        descending: bool,
    }

    impl Key {
        fn compare(self, a: &Record, b: &Record) -> Ordering {
            let order = match self.field {
                Field::Name => a.name.cmp(b.name),
                Field::Age => a.age.cmp(&b.age),
                Field::City => a.city.cmp(b.city),
            };
            if self.descending {
                order.reverse()
            } else {
                order
            }
        }
    }

    /// `"city,-age"` -> [city ascending, age descending].
    fn parse_keys(spec: &str) -> Result<Vec<Key>, String> {
        spec.split(',')
            .map(|word| {
                let (descending, name) = match word.strip_prefix('-') {
                    Some(name) => (true, name),
                    None => (false, word),
                };
                let field = match name {
                    "name" => Field::Name,
                    "age" => Field::Age,
                    "city" => Field::City,
                    _ => return Err(format!("unknown sort key {word:?} (keys: name, age, city)")),
                };
                Ok(Key { field, descending })
            })
            .collect()
    }

    fn compare_by(keys: &[Key], a: &Record, b: &Record) -> Ordering {
        keys.iter()
            .map(|key| key.compare(a, b))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// Sorts `records` in place with `qsort_r`, by `keys`; returns how many
    /// comparisons glibc asked for.
    fn sort(records: &mut [Record], keys: &[Key]) -> usize {
        let mut comparisons = 0;
        Compare::scope(
            // The closure borrows `keys` and mutably borrows `comparisons`:
            // no `static`, no `Box`, no cast of the user data by hand.
            |a, b| {
                comparisons += 1;
                // SAFETY: `qsort_r` passes pointers to two elements of
                // `records`, valid for the duration of the call.
                let (a, b) = unsafe { (&*a.cast::<Record>(), &*b.cast::<Record>()) };
                compare_by(keys, a, b) as c_int
            },
            // SAFETY: `records` is an exclusively borrowed array of
            // `records.len()` elements of `size_of::<Record>()` bytes;
            // `compare` takes `arg`, which points to the closure's holder,
            // alive until `scope` returns, after `qsort_r` has.
            |compare, arg| unsafe {
                libc::qsort_r(
                    records.as_mut_ptr().cast(),
                    records.len(),
                    size_of::<Record>(),
                    Some(compare),
                    arg,
                );
            },
        );
        comparisons
    }

    fn print_table(records: &[Record]) {
        println!("  name     age  city");
        for r in records {
            println!("  {:<8} {:>3}  {}", r.name, r.age, r.city);
        }
    }

    /// Sorts a copy of the table by `keys` and prints it; an error if the
    /// result is out of order.
    fn sort_and_print(spec: &str, keys: &[Key]) -> Result<(), String> {
        let mut records = PEOPLE;
        let comparisons = sort(&mut records, keys);
        if !records.is_sorted_by(|a, b| compare_by(keys, a, b).is_le()) {
            return Err(format!("qsort_r left the table out of order by {spec}"));
        }
        println!(
            "sorted by {spec}: {} records, {comparisons} comparisons",
            records.len()
        );
        print_table(&records);
        Ok(())
    }

    pub(crate) fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let specs: Vec<&str> = if args.is_empty() {
            vec!["name", "age,name", "city,-age"]
        } else {
            args.iter().map(String::as_str).collect()
        };
        let mut orders = Vec::new();
        for spec in specs {
            match parse_keys(spec) {
                Ok(keys) => orders.push((spec, keys)),
                Err(message) => {
                    eprintln!("error: {message}");
                    eprintln!(
                        "usage: sort_records [KEY[,KEY...]]...   e.g. sort_records city,-age"
                    );
                    return ExitCode::from(2);
                }
            }
        }
        for (i, (spec, keys)) in orders.iter().enumerate() {
            if i > 0 {
                println!();
            }
            if let Err(message) = sort_and_print(spec, keys) {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
        }
        ExitCode::SUCCESS
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    println!("sort_records uses glibc's qsort_r (user data last): run it on Linux with glibc");
}
