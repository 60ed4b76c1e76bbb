//! `tag`: another name for an image.

use crate::engine::Engine;
use crate::error::Result;
use crate::lock::Mode;
use crate::reference::Reference;

impl Engine {
    /// Point `target` (`name[:tag]`, `:latest` implied) at the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let target = Reference::parse_tagged(target)?;
        let _lock = self.lock(Mode::Exclusive)?;
        let image = self.resolve_image(source)?;
        let mut repos = self.images.repositories()?;
        repos.add(&target, &image.id);
        self.images.save_repositories(&repos)?;
        self.images.touch_tag_time(&image.id)
    }
}
