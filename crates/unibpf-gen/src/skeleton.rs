use crate::GenError;

pub fn skeleton(_object: &[u8], _source: &str, _name: Option<&str>) -> Result<String, GenError> {
    Err(GenError::Invalid("not yet".into()))
}
