//! Header names of one connection. A client sends the same fields in the same order call
//! after call; a name found again at its place is cloned rather than parsed (and, for a
//! name of no standard header, allocated).

use http::HeaderName;
use http::header::InvalidHeaderName;

/// Places remembered: more fields than this are parsed every time.
const PLACES: usize = 32;

/// The names of the previous head, by place, with their bytes as sent.
#[derive(Default)]
pub struct NameCache {
    places: Vec<(Box<[u8]>, HeaderName)>,
}

impl NameCache {
    /// The name of the field at `place` of a head, sent as `raw`.
    pub fn name(&mut self, place: usize, raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
        if let Some((seen, name)) = self.places.get(place)
            && **seen == *raw
        {
            return Ok(name.clone());
        }
        let name = HeaderName::from_bytes(raw)?;
        let remembered = (Box::from(raw), name.clone());
        if let Some(slot) = self.places.get_mut(place) {
            *slot = remembered;
        } else if place == self.places.len() && place < PLACES {
            self.places.push(remembered);
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_the_one_its_bytes_say_wherever_it_was_seen() {
        let mut names = NameCache::default();
        let heads: [&[&str]; 4] = [
            &["Host", "X-Custom", "content-type"],
            &["Host", "X-Custom", "content-type"],
            &["Host", "x-custom", "Content-Length", "X-Other"],
            &["content-type", "Host"],
        ];
        for head in heads {
            for (place, raw) in head.iter().enumerate() {
                let name = names.name(place, raw.as_bytes()).expect("valid");
                assert_eq!(name.as_str(), raw.to_ascii_lowercase());
            }
        }
        assert!(names.name(0, b"bad name").is_err());
        assert_eq!(
            names.name(0, b"content-type").expect("valid"),
            "content-type"
        );
    }
}
