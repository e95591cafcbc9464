"""The clinical category mapping, pinned on every type, location and judgement of the 80 expert files.

The tables below were reviewed value by value against the rules in vipet/reports/categories.py
(see its docstring); a change of mapping must show up here as a deliberate edit.
"""

from __future__ import annotations

import collections

import pytest

from vipet.reports.categories import (
    FDG_CATEGORIES,
    POSITION_CATEGORIES,
    TYPE_CATEGORIES,
    fdg_category,
    fdg_category_text,
    fold,
    judgement_category,
    lesion_categories,
    position_categories,
    split_sites,
    type_category,
)
from vipet.schema import Lesion, load_expert_lesions

EXPERT_TYPES = {
    'hạch': [
        ' Hình ảnh nhiều hạch ',
        ' Hình ảnh vài hạch cổ ',
        ' Hình ảnh vài hạch trung thất',
        'Hình ảnh hạch',
        'Hình ảnh hạch nhỏ',
        'Hình ảnh hạch đơn lẻ',
        'Hình ảnh nhiều hạch',
        'Hình ảnh nhiều hạch nhỏ',
        'Hình ảnh nhiều hạch trung thất',
        'Hình ảnh nhiều hạch trung thất dính với nhau tạo thành khối hạch',
        'Hình ảnh nhiều hạch tạo thành chuỗi',
        'Hình ảnh vài hạch',
        'Hình ảnh vài hạch nhỏ',
        'Hình ảnh vài hạch trung thất',
        'Hình ảnh vài hạch trung thất có vôi hoá bên trong',
        'Hạch',
        'Hạch nhỏ',
        'Nhiều hạch',
        'Vài hạch',
        'Vài hạch nhỏ',
        'Vài hạch, còn cấu trúc rốn hạch',
        'hạch',
        'vài hạch',
    ],
    'nốt mờ': [
        ' Hình ảnh nốt mô mềm có  , tăng chuyển hóa FDG (SUVmax: 3,4) ',
        'Hình nốt mờ nhỏ',
        'Hình ảnh nhiều nốt mờ nhỏ',
        'Hình ảnh nhiều nốt mờ rải rác',
        'Hình ảnh nốt mờ',
        'Hình ảnh nốt mờ bán đặc',
        'Hình ảnh nốt mờ bờ tua gai',
        'Hình ảnh nốt mờ bờ đa cung',
        'Hình ảnh nốt mờ có tỉ trọng kim loại',
        'Hình ảnh nốt mờ nhỏ',
        'Hình ảnh nốt mờ phá hủy hang lệch tâm',
        'Hình ảnh nốt mờ, bờ tua gai',
        'Hình ảnh vài nốt mờ',
        'Hình ảnh vài nốt mờ bờ đa cung',
        'Hình ảnh vài nốt mờ rải rác',
        'Nốt mờ',
        'Nốt tuyến thượng thận',
    ],
    'kính mờ': [
        'Hình ảnh nốt kính mờ',
        'Hình ảnh nốt mờ kính',
        'Hình ảnh vài nốt kính mờ',
        'Hình ảnh đám kính mờ',
        'Kính mờ',
        'nốt mờ kính và dày thành phế nang',
    ],
    'khối mờ': [
        ' khối tỉ trọng tổ chức ',
        'Hình ảnh khối mờ',
        'Hình ảnh khối mờ bờ tua gai',
        'Hình ảnh khối mờ bờ đa cung',
        'Hình ảnh khối mờ đa cung',
        'Hình ảnh khối mờ, bờ tua gai',
        'Hình ảnh khối mờ, bờ đa cung',
        'Hình ảnh khối mờ, bờ đa cung, hoại tử',
        'Hình ảnh khối mờ, bờ đa cung, tua gai',
        'Hình ảnh khối mờ, có cấu trúc dạng hang',
        'Hình ảnh khối tổn thương',
        'Hình ảnh tổn thương dạng hang thành dày không đều',
        'Hình ảnh đám mờ',
        'Hình ảnh đám mờ hình tam giác',
        'Hình ảnh đám mờ không thuần nhất',
        'Đám mờ và nốt mờ có vôi hóa',
    ],
    'dày màng phổi': [
        ' dày khu trú màng phổi trung thất và tràn dịch khoang màng phổi',
        'Dày màng phổi',
        'Dày màng phổi thành sau và thành bên phổi trái, vôi hóa',
        'Dày màng phổi, tràn dịch màng phổi gây xẹp phổi',
        'Hình ảnh dày dính màng phổi',
        'Hình ảnh dày dính và tràn dịch màng phổi trái',
        'Hình ảnh dày khu trú màng phổi và tràn dịch khoang màng phổi',
        'Hình ảnh dày màng phổi',
        'Hình ảnh dày màng phổi khu trú',
        'Hình ảnh dày màng phổi trung thất',
    ],
    'dày tổ chức kẽ': [
        'Dày tổ chức kẽ',
        'Dày tổ chức kẽ lan tỏa, mờ kính dạng chổi cây (tree-in-bud)',
        'Dày tổ chức kẽ, nhiều nốt mờ nhỏ',
        'Hình ảnh dày kẽ nốt lan tỏa',
        'Hình ảnh dày tổ chức kẽ và tổn thương dạng nụ cành',
        'Hình ảnh dày tổ chức kẽ và vài nốt mờ nhỏ',
        'Hình ảnh nốt dày kẽ',
        'Tổn thương dày tổ chức kẽ',
        'Tổn thương dạng nụ cành',
    ],
    'dải mờ': [
        'Dải mờ',
        'Dải mờ kèm nốt vôi hóa',
        'Dải mờ rải rác',
        'Dải mờ và nốt mờ',
        'Hình ảnh dải mờ',
        'Vài dải mờ',
    ],
    'đông đặc': [
        'Dạng đông đặc kèm dày kẽ',
        'Hình ảnh dạng đông đặc',
        'Hình ảnh đám tổn thương đông đặc',
        'Hình ảnh đám đông đặc',
        'Hình ảnh đám đông đặc kèm tổn thương dạng hang thành dày không đều',
        'Tổn thương dạng thâm nhiễm',
    ],
    'dày thành': [
        'Dày thành',
        'Hình ảnh dày thành',
        'Tổn thương dày',
    ],
    'nốt vôi hoá': [
        'Hình ảnh nốt vôi hóa',
        'Nốt mờ vôi hóa',
        'Nốt vôi hóa',
    ],
    'tăng chuyển hoá': [
        'Không đặc hiệu',
        'Tăng chuyển hóa FDG',
        'Tăng chuyển hóa FDG không đặc hiệu',
        'Tăng hấp thu FDG không đặc hiệu',
        'Tăng nhẹ chuyển hóa FDG',
        'Tăng nhẹ chuyển hóa FDG không đặc hiệu',
    ],
    'khác': [
        'Tổn thương hủy xương',
        'tổn thương hủy xương',
    ],
}
EXPERT_LOCATIONS = [
    ('Bên phải khí quản đoạn cao', None, ['trung thất']),
    ('bên trái', 'Hình ảnh dày màng phổi trung thất', ['phổi']),
    ('Cung sau xương sườn 4 bên trái; xương cánh chậu; trần ổ cối bên trái', None, ['khác', 'khác', 'khác']),
    ('Cạnh bên phải khí quản đoạn thấp và trước carina', None, ['trung thất', 'trung thất']),
    ('cạnh hai bên khí quản, dưới quai động mạch chủ, dưới carina và rốn phổi trái', None, ['trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('Cạnh khí quản đoạn thấp và dưới carina', None, ['trung thất', 'trung thất']),
    ('Cạnh khí quản đoạn thấp và phế quản gốc hai bên', None, ['trung thất', 'trung thất']),
    ('cạnh phải khí quản đoạn cao, hạch rốn phổi phải', None, ['trung thất', 'phổi']),
    ('cạnh phải khí quản đoạn thấp', None, ['trung thất']),
    ('Cạnh phải khí quản đoạn thấp, cửa sổ chủ phổi', None, ['trung thất', 'trung thất']),
    ('cạnh phải khí quản đoạn thấp, dưới carina và hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'phổi']),
    ('cạnh phải khí quản đoạn thấp, dưới carina, hạch rốn phổi hai bên', None, ['trung thất', 'trung thất', 'phổi']),
    ('cạnh phải khí quản đoạn thấp, hạch rốn phổi phải', None, ['trung thất', 'phổi']),
    ('cạnh phải khí quản đoạn thấp, trước và dưới carina, hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('cạnh phải khí quản, trước và dưới carina, hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('cạnh quai động mạch chủ và trước mạch máu, hạch rốn phổi trái', None, ['trung thất', 'trung thất', 'phổi']),
    ('Cạnh quai động mạch chủ, cửa sổ chủ phổi, trước khí quản', None, ['trung thất', 'trung thất', 'trung thất']),
    ('Cạnh thực quản đoạn 1/3 giữa dưới, cửa sổ chủ phổi', None, ['trung thất', 'trung thất']),
    ('Cửa sổ chủ - phổi, rốn phổi, dưới quai động mạch chủ', None, ['trung thất', 'phổi', 'trung thất']),
    ('cửa sổ chủ phổi', None, ['trung thất']),
    ('Cửa sổ chủ phổi và cạnh quai động mạch chủ', None, ['trung thất', 'trung thất']),
    ('cửa sổ chủ phổi và hạch rốn phổi trái', None, ['trung thất', 'phổi']),
    ('cửa sổ chủ phổi, cạnh phải và trước khí quản đoạn thấp, hạch rốn phổi trái', None, ['trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('cửa sổ chủ phổi, rốn phổi hai bên', None, ['trung thất', 'phổi']),
    ('cửa sổ chủ phổi, trước và dưới carina, trước mạch máu và hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('dưới carina', None, ['trung thất']),
    ('Dưới hàm trái', None, ['cổ']),
    ('dưới khí quản đoạn thấp', None, ['trung thất']),
    ('dưới màng phổi ở hạ phân thùy VI thùy dưới phổi phải', None, ['phổi']),
    ('dưới màng phổi ở ngoại vi thùy dưới phổi trái', None, ['phổi']),
    ('dưới quai động mạch chủ', None, ['trung thất']),
    ('Dưới quai động mạch chủ', None, ['trung thất']),
    ('Dưới quai động mạch chủ và bên phải khí quản đoạn thấp', None, ['trung thất', 'trung thất']),
    ('dưới quai động mạch chủ và cửa sổ chủ phổi', None, ['trung thất', 'trung thất']),
    ('Dưới quai động mạch chủ và trước khí quản', None, ['trung thất', 'trung thất']),
    ('Dưới quai động mạch chủ, cạnh hai bên khí quản đoạn thấp', None, ['trung thất', 'trung thất']),
    ('dưới quai động mạch chủ, trước carina và hạch rốn phổi trái', None, ['trung thất', 'trung thất', 'phổi']),
    ('Dưới rãnh liên thùy ở hạ phân thùy VIII thùy dưới phổi phải', None, ['phổi']),
    ('dọc bên phải khí quản', None, ['trung thất']),
    ('dọc bên phải khí quản đoạn cao và đoạn thấp, dưới carina', None, ['trung thất', 'trung thất', 'trung thất']),
    ('dọc cạnh phải khí quản, trước và dưới carina, hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('dọc hai bên khí quản, trước mạch máu, cạnh quai động mạch chủ, cửa sổ chủ phổi, trước và dưới carina, hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'trung thất', 'trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('dọc rãnh liên thùy phổi trái', None, ['phổi']),
    ('Gốc lưỡi phải, nghi ngờ xâm lấn nắp thanh thiệt', None, ['cổ']),
    ('Hai bên khí quản', None, ['trung thất']),
    ('hạ phân thùy I thùy trên phổi phải', None, ['phổi']),
    ('hạ phân thùy I thùy trên phổi trái', None, ['phổi']),
    ('hạ phân thùy I thùy trên và hạ phân thùy VI thùy dưới phổi trái', None, ['phổi', 'phổi']),
    ('hạ phân thùy II thùy trên phổi phải', None, ['phổi']),
    ('Hạ phân thùy III thùy trên phổi phải', None, ['phổi']),
    ('hạ phân thùy III thùy trên phổi phải', None, ['phổi']),
    ('hạ phân thùy III thùy trên phổi phải, dính vào rãnh liên thùy', None, ['phổi']),
    ('hạ phân thùy III thùy trên phổi trái', None, ['phổi']),
    ('hạ phân thùy IV thùy giữa phổi phải', None, ['phổi']),
    ('hạ phân thùy IV thùy lưỡi phổi trái', None, ['phổi']),
    ('hạ phân thùy IX thùy dưới phổi phải', None, ['phổi']),
    ('hạ phân thùy V thùy giữa phổi phải', None, ['phổi']),
    ('Hạ phân thùy V thùy giữa phổi phải và thùy lưỡi phổi trái', None, ['phổi', 'phổi']),
    ('hạ phân thùy V thùy lưỡi phổi trái', None, ['phổi']),
    ('Hạ phân thùy V thùy lưỡi phổi trái', None, ['phổi']),
    ('Hạ phân thùy VI phổi phải', None, ['phổi']),
    ('hạ phân thùy VI phổi trái', None, ['phổi']),
    ('hạ phân thùy VI thùy dưới phổi phải', None, ['phổi']),
    ('hạ phân thùy VI thùy trên phổi trái', None, ['phổi']),
    ('hạ phân thùy X thùy dưới phổi trái', None, ['phổi']),
    ('hạ đòn trái, trước mạch máu, cạnh quai động mạch chủ, hạch rốn phổi trái', None, ['nách', 'trung thất', 'trung thất', 'phổi']),
    (' hạ đòn trái, trước mạch máu, cạnh quai động mạch chủ, hạch rốn phổi trái ', None, ['nách', 'trung thất', 'trung thất', 'phổi']),
    (' hạch chân hoành phải ', None, ['bụng']),
    ('Hạch cổ nhóm IIA, III bên phải', None, ['cổ', 'cổ']),
    ('Hạch cổ nhóm VB bên phải', None, ['cổ']),
    ('Hố Rosenmuller bên trái, xâm lấn dốc nền, xương đá bên trái, chân bướm trái và đốt sống C1', None, ['cổ']),
    ('màng phổi phải', None, ['phổi']),
    ('Màng phổi thành sau và thành bên phổi trái', None, ['phổi', 'phổi']),
    ('màng phổi thành trước bên phải', None, ['phổi']),
    (' màng phổi trung thất  và khoang màng phổi trái', None, ['phổi', 'phổi']),
    ('Màng phổi trung thất phổi trái', None, ['phổi']),
    ('màng phổi trái', None, ['phổi']),
    ('ngoại vi hạ phân thùy I thùy trên phổi trái', None, ['phổi']),
    ('Ngoại vi hạ phân thùy III thùy trên và hạ phân thùy VI thùy dưới phổi phải', None, ['phổi', 'phổi']),
    ('ngoại vi nhu mô thùy trên phổi phải', None, ['phổi']),
    ('ngoại vi nhu mô thùy trên và thùy dưới phổi trái', None, ['phổi', 'phổi']),
    ('ngoại vi thùy dưới phổi phải', None, ['phổi']),
    ('Ngoại vi thùy dưới phổi phải', None, ['phổi']),
    ('ngoại vi thùy dưới phổi phải, thùy trên và thùy dưới phổi trái', None, ['phổi', 'phổi', 'phổi']),
    ('ngoại vi thùy dưới phổi trái', None, ['phổi']),
    ('Ngoại vi thùy dưới phổi trái', None, ['phổi']),
    ('ngoại vi thùy giữa phổi phải', None, ['phổi']),
    ('ngoại vi thùy trên phổi phải', None, ['phổi']),
    ('Ngoại vi thùy trên phổi phải', None, ['phổi']),
    ('Ngoại vi thùy trên phổi phải và thùy dưới phổi trái', None, ['phổi', 'phổi']),
    ('ngoại vi thùy trên phổi trái', None, ['phổi']),
    ('ngoại vi thùy trên phổi trái, dính vào màng phổi thành sau', None, ['phổi']),
    ('ngoại vi thùy trên phổi trái, dính vào rãnh liên thùy', None, ['phổi']),
    ('ngoại vi thùy trên và thùy dưới phổi phải', None, ['phổi', 'phổi']),
    ('Ngoại vi thùy trên, thùy giữa và dưới phổi phải', None, ['phổi', 'phổi', 'phổi']),
    ('nhiều vị trí ở màng phổi phải', None, ['phổi']),
    ('nhu mô hai phổi', None, ['phổi']),
    ('nhu mô hạ phân thùy I thùy trên, hạ phân thùy IV - V thùy giữa và hạ phân thùy VI thùy dưới phổi phải', None, ['phổi', 'phổi', 'phổi']),
    ('Nhu mô phổi hai bên', None, ['phổi']),
    ('nhu mô phổi trái', None, ['phổi']),
    ('nhu mô thùy giữa và thùy dưới phổi phải', None, ['phổi', 'phổi']),
    ('Nhu mô thùy trên hai phổi', None, ['phổi']),
    ('nhu mô thùy trên hai phổi và thùy dưới phổi trái', None, ['phổi', 'phổi']),
    ('Nhu mô thùy trên phổi trái', None, ['phổi']),
    ('nhu mô thùy trên và thùy dưới phổi phải', None, ['phổi', 'phổi']),
    ('nhu mô thùy trên, thùy giữa, thùy dưới phổi phải', None, ['phổi', 'phổi', 'phổi']),
    ('nhóm VA, VB và nhiều hạch thượng đòn trái', None, ['cổ', 'cổ', 'cổ']),
    ('nền phổi bên trái', None, ['phổi']),
    ('Nền phổi hai bên', None, ['phổi']),
    ('phân thùy lưỡi phổi trái', None, ['phổi']),
    ('phần còn lại của phổi phải sau phẫu thuật', None, ['phổi']),
    ('phổi phải', None, ['phổi']),
    ('Phổi phải', None, ['phổi']),
    ('ranh giới không rõ ở ¼ dưới trong vú phải', None, ['khác']),
    ('rải rác nhu mô thùy trên phổi phải, thùy giữa phổi phải và thùy dưới phổi phải, thùy trên phổi trái', None, ['phổi', 'phổi', 'phổi', 'phổi']),
    ('Rốn phổi bên phải', None, ['phổi']),
    ('Rốn phổi hai bên', None, ['phổi']),
    ('rốn phổi hai bên', None, ['phổi']),
    ('Rốn phổi hai bên, hạch lớn nhất ở rốn phổi trái', None, ['phổi']),
    ('rốn phổi phải', None, ['phổi']),
    ('Rốn phổi phải', None, ['phổi']),
    ('Rốn phổi trái', None, ['phổi']),
    ('rốn phổi trái', None, ['phổi']),
    ('Sau hầu trái, dọc trong và sau cơ ức đòn chũm trái (nhóm IIB, III, IV, VA, VB), thượng đòn trái', None, ['cổ', 'cổ', 'cổ', 'cổ']),
    ('thành sau bên trái', 'Hình ảnh dày dính màng phổi', ['phổi']),
    ('thành sau bên trái', 'Hình ảnh dày màng phổi', ['phổi']),
    ('thùy dưới phổi phải', None, ['phổi']),
    ('Thùy dưới phổi phải', None, ['phổi']),
    ('thùy dưới phổi phải, dính vào rãnh liên thùy', None, ['phổi']),
    ('thùy dưới phổi phải, dính vào rốn phổi phải', None, ['phổi']),
    ('thùy dưới phổi trái', None, ['phổi']),
    ('Thùy dưới phổi trái', None, ['phổi']),
    ('thùy dưới phổi trái, dính vào rốn phổi trái', None, ['phổi']),
    ('thùy giữa phổi phải', None, ['phổi']),
    ('Thùy giữa phổi phải', None, ['phổi']),
    ('Thùy trên hai phổi', None, ['phổi']),
    ('thùy trên phổi phải', None, ['phổi']),
    ('Thùy trên phổi phải và thùy dưới phổi trái', None, ['phổi', 'phổi']),
    ('thùy trên phổi trái', None, ['phổi']),
    ('Thùy trên phổi trái', None, ['phổi']),
    ('thùy trên phổi trái và thùy dưới hai phổi', None, ['phổi', 'phổi']),
    ('Thùy trên phổi trái, cạnh rãnh liên thùy', None, ['phổi']),
    ('thùy trên phổi trái, sát với rãnh liên thùy', None, ['phổi']),
    ('thùy trên và thùy dưới phổi phải', None, ['phổi', 'phổi']),
    ('thùy trên và thùy dưới phổi phải, thùy trên phổi trái', None, ['phổi', 'phổi', 'phổi']),
    ('Thượng và hạ đòn hai bên', None, ['cổ', 'nách']),
    ('thượng và hạ đòn hai bên', None, ['cổ', 'nách']),
    ('thượng đòn hai bên', None, ['cổ']),
    ('Thượng đòn hai bên', None, ['cổ']),
    ('Thượng đòn phải', None, ['cổ']),
    ('thượng đòn phải', None, ['cổ']),
    ('Thượng đòn trái', None, ['cổ']),
    ('thực quản đoạn 1/3 giữa dưới', None, ['trung thất']),
    ('Trung thất', None, ['trung thất']),
    ('Trung thất (trước và cạnh bên phải khí quản đoạn thấp, dưới quai động mạch chủ, cửa sổ chủ phổi, dưới carina)', None, ['trung thất', 'trung thất', 'trung thất', 'trung thất', 'trung thất']),
    ('Trung thất cạnh phải khí quản đoạn cao, cửa sổ chủ phổi, dưới carina và hạch rốn phổi hai bên', None, ['trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('Trung thất dọc cạnh phải khí quản, cửa sổ chủ phổi, trước và dưới carina, hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('Trung thất nhóm 4R', None, ['trung thất']),
    ('trung thất tại cửa sổ chủ - phổi và dưới carina', None, ['trung thất', 'trung thất']),
    ('Trung thất tại cửa sổ chủ phổi, trước và dưới carina', None, ['trung thất', 'trung thất', 'trung thất']),
    ('Trung thất ở trước và dưới carina', None, ['trung thất', 'trung thất']),
    ('Trung thất, trước carina', None, ['trung thất', 'trung thất']),
    ('trung tâm thùy dưới phổi phải', None, ['phổi']),
    ('trung tâm thùy dưới phổi trái', None, ['phổi']),
    ('trung tâm thùy giữa phổi phải', None, ['phổi']),
    ('trung tâm thùy giữa và thùy dưới phổi phải', None, ['phổi', 'phổi']),
    ('trung tâm thùy trên phổi trái', None, ['phổi']),
    ('trước carina', None, ['trung thất']),
    ('Trước carina', None, ['trung thất']),
    ('Trước carina và cạnh phế quản gốc trái', None, ['trung thất', 'trung thất']),
    ('trước carina và hạch cạnh phế quản gốc phải', None, ['trung thất', 'trung thất']),
    ('Trước carina và trước khí quản', None, ['trung thất', 'trung thất']),
    ('Trước carina, dưới quai động mạch chủ, cửa sổ chủ phổi và hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('Trước khí quản', None, ['trung thất']),
    ('trước khí quản', None, ['trung thất']),
    ('trước khí quản và bên trái khí quản đoạn thấp, dưới carina thuộc nhóm 4R, 4L, 7', None, ['trung thất', 'trung thất', 'trung thất']),
    ('trước khí quản và carina', None, ['trung thất', 'trung thất']),
    ('trước khí quản đoạn cao và trước mạch máu (nhóm 2R, 3)', None, ['trung thất', 'trung thất']),
    ('Trước khí quản đoạn cao và đoạn thấp', None, ['trung thất', 'trung thất']),
    ('Trước khí quản đoạn cao, thấp', None, ['trung thất', 'trung thất']),
    ('trước khí quản đoạn thấp', None, ['trung thất']),
    ('trước khí quản đoạn thấp và dưới carina, hạch rốn phổi hai bên', None, ['trung thất', 'trung thất', 'phổi']),
    ('trước khí quản đoạn thấp, dưới quai động mạch chủ', None, ['trung thất', 'trung thất']),
    ('Trước khí quản, dưới quai động mạch chủ, bên trái khí quản đoạn thấp', None, ['trung thất', 'trung thất', 'trung thất']),
    ('trước mạch máu', None, ['trung thất']),
    ('trước mạch máu và cạnh phải khí quản đoạn thấp', None, ['trung thất', 'trung thất']),
    ('trước và dưới carina, hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'phổi']),
    ('Tuyến thượng thận phải', None, ['bụng']),
    ('tuyến thượng thận trái ', None, ['bụng']),
    ('tâm hoành phải', None, ['trung thất']),
    ('vùng rốn phổi phải', None, ['phổi']),
    ('Xoang lê bên trái', None, ['cổ']),
    ('đỉnh phổi phải', None, ['phổi']),
    ('đỉnh phổi trái', None, ['phổi']),
    ('đỉnh phổi trái, dính vào màng phổi thành trước', None, ['phổi']),
    ('đốt sống C3 và xương bả vai trái', None, ['khác', 'khác']),
    (' ở cạnh phải khí quản, cạnh quai động mạch chủ, cửa sổ chủ phổi, dưới carina và hạch rốn phổi phải', None, ['trung thất', 'trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('ở cạnh quai động mạch chủ, cửa sổ chủ phổi, trước carina', None, ['trung thất', 'trung thất', 'trung thất']),
    ('ở cửa sổ chủ phổi, dưới carina', None, ['trung thất', 'trung thất']),
    ('ở trước mạch máu và cửa sổ chủ phổi', None, ['trung thất', 'trung thất']),
    ('ở trước mạch máu, cửa sổ chủ phổi, cạnh phải khí quản đoạn thấp, dưới carina và hạch rốn phổi hai bên', None, ['trung thất', 'trung thất', 'trung thất', 'trung thất', 'phổi']),
    ('ở trước và dưới carina, hạch rốn phổi hai bên', None, ['trung thất', 'trung thất', 'phổi']),
]
EXPERT_JUDGEMENTS = {
    'nguyên phát': [
        'Khả năng u nguyên phát đáp ứng với điều trị',
        'U nguyên phát',
        'khả năng tổn thương nguyên phát ổn định sau điều trị',
        'u nguyên phát',
    ],
    'di căn': [
        'Di căn',
        'Di căn ',
        'Di căn hạch',
        'Di căn xa',
        'Do metastases',
        'Khả năng di căn',
        'Khả năng di căn ',
        'Khả năng di căn hạch',
        'Khả năng do di căn',
        'Khả năng do metastases',
        'Khẩ năng do di căn',
        'khả năng di căn',
        'khả năng do di căn',
    ],
    'ác tính': [
        ' khả năng ác tính ',
        'Khả năng ác tính',
        'Khả năng ác tính tái phát',
        'Nghi ngờ ác tính',
        'Nhiều khả năng ác tính',
        'Tổn thương ác tính đã được điều trị',
        'khả năng tổn thương ác tính. đối chiếu mô bệnh học ',
        'khả năng ác tính',
        'khả năng ác tính ',
    ],
    'chưa loại trừ': [
        ' Chưa loại trừ di căn',
        ' chưa loại trừ do di ',
        ' chưa loại trừ do di căn ',
        'Chưa loại trừ di căn',
        'Chưa loại trừ khả năng di căn',
        'Chưa loại trừ khả năng do di căn',
        'Chưa loại trừ khả năng ác tính',
        'Chưa loại trừ tổn thương ác tính -> nên lưu ý theo dõi',
        'Cần phân biệt tổn thương viêm sau xạ trị với tổn thương ác tính',
        'chưa loại  trừ do di căn ',
        'chưa loại trừ do di căn',
        'chưa loại trừ hả năng di căn',
        'chưa loại trừ khả năng di căn',
        'chưa loại trừ khả năng do di ',
        'chưa loại trừ khả năng do di căn',
        'chưa loại trừ khả năng do di căn ',
    ],
    'viêm': [
        ' Khả năng viêm ',
        ' khả năng do viêm',
        'Không đặc hiệu, khả năng viêm',
        'Khả năng do viêm',
        'Khả năng viêm',
        'khả năng do viêm',
        'khả năng do viêm, nên lưu ý theo dõi',
        'khả năng viêm',
    ],
    'xơ hoá': [
        'Khả năng do xơ hóa',
        'Khả năng lành tính hoặc xơ hóa',
        'Khả năng xơ hóa',
        'Khả năng xơ hóa sau xạ trị',
        'Xơ hóa sau phẫu thuật',
        'khả năng là xơ hóa',
        'khả năng xơ hóa',
    ],
    'lành tính': [
        'Khả năng lành ',
        'Khả năng lành tính',
        'Lành tính',
        'có thể là lành tính, nên theo dõi',
    ],
    'theo dõi': [
        'Cần lưu ý theo dõi',
        'Cần đối chiếu và theo dõi với CT trước điểu trị',
        'Cần đối chiếu và theo dõi với CT trước điểu trị ',
        'Nên lưu ý theo ',
        'Nên lưu ý theo dõi',
        'cần lưu ý theo ',
        'cần lưu ý theo dõi',
        'cần đối chiếu với mô bệnh học',
        'lưu ý theo ',
        'nên lưu ý theo dõi',
        'ĐỐI CHIẾU VỚI MÔ BỆNH HỌC',
        'Đối chiếu với mô bệnh học',
    ],
    'khác': [
        ' xẹp phổi ',
        '.',
        'Không có',
        'không có',
        'khả năng ',
    ],
}


@pytest.mark.parametrize("category,texts", list(EXPERT_TYPES.items()))
def test_every_expert_type_string(category, texts):
    assert {t: type_category(t) for t in texts} == {t: category for t in texts}


@pytest.mark.parametrize("location,type_text,expected", EXPERT_LOCATIONS)
def test_every_expert_location(location, type_text, expected):
    assert position_categories(location, type_text) == expected


@pytest.mark.parametrize("category,texts", list(EXPERT_JUDGEMENTS.items()))
def test_every_expert_judgement(category, texts):
    assert {t: judgement_category(t) for t in texts} == {t: category for t in texts}


def test_vocabularies_are_those_of_the_paper():
    assert TYPE_CATEGORIES == ("hạch", "nốt mờ", "kính mờ", "khối mờ", "dày màng phổi", "dày tổ chức kẽ", "dải mờ",
                               "đông đặc", "tràn dịch", "mô mềm", "dày thành", "nốt vôi hoá", "tăng chuyển hoá", "khác")
    assert POSITION_CATEGORIES == ("trung thất", "phổi", "bụng", "cổ", "nách", "khác")
    assert FDG_CATEGORIES == ("có tăng", "không tăng")


def test_fold_unifies_tone_mark_placement_and_case():
    assert fold("Tăng chuyển HÓA") == fold("tăng chuyển hoá") == "tăng chuyển hoá"
    assert fold("THÙY  trên") == "thuỳ trên"
    assert fold("hoàng") == "hoàng"  # "oà" followed by a letter is not an old-style placement


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Dải mờ kèm nốt vôi hóa", "dải mờ"),  # the earliest finding wins
        ("Nốt mờ vôi hóa", "nốt vôi hoá"),  # a calcified nodule
        ("Hình ảnh nốt mờ kính", "kính mờ"),  # a ground-glass nodule
        ("Hình ảnh vài hạch trung thất có vôi hoá bên trong", "hạch"),  # calcification of a node stays a node
        ("Tăng chuyển hóa FDG không đặc hiệu", "tăng chuyển hoá"),  # uptake only
        ("Hình ảnh khối mờ, tăng chuyển hóa FDG", "khối mờ"),  # uptake words never beat a morphology
        ("Tổn thương hủy xương", "khác"),
        ("Không có", "khác"),
        ("", "khác"),
        ("Tràn dịch màng phổi phải", "tràn dịch"),
        ("Hình ảnh tổn thương tỷ trọng mô mềm, vôi hóa", "mô mềm"),
    ],
)
def test_type_rules(text, expected):
    assert type_category(text) == expected


@pytest.mark.parametrize(
    "location,expected",
    [
        ("thùy trên và thùy dưới phổi phải", ["phổi", "phổi"]),  # one unit per listed site
        ("Rốn phổi hai bên", ["phổi"]),  # bilateral wording is one site
        ("Thượng và hạ đòn hai bên", ["cổ", "nách"]),  # a bare modifier borrows the next site's anatomy
        ("trước và dưới carina, hạch rốn phổi phải", ["trung thất", "trung thất", "phổi"]),
        ("Trung thất (trước khí quản, dưới carina)", ["trung thất", "trung thất"]),  # parenthesised list
        ("trước khí quản đoạn cao và trước mạch máu (nhóm 2R, 3)", ["trung thất", "trung thất"]),  # stations dropped
        ("trước khí quản, dưới carina thuộc nhóm 4R, 4L, 7", ["trung thất", "trung thất"]),
        ("thùy dưới phổi phải, dính vào rãnh liên thùy", ["phổi"]),  # invasion ends the list
        ("Hố Rosenmuller bên trái, xâm lấn dốc nền, xương đá bên trái", ["cổ"]),
        ("cửa sổ chủ phổi", ["trung thất"]),  # aorto-pulmonary window is mediastinal despite "phổi"
        ("màng phổi trung thất", ["phổi"]),  # pleura is lung even beside the mediastinum
        ("Cung sau xương sườn 4 bên trái; xương cánh chậu", ["khác", "khác"]),
        ("Tuyến thượng thận phải", ["bụng"]),
        ("hố nách trái", ["nách"]),
        ("Không có", ["khác"]),
    ],
)
def test_position_rules(location, expected):
    assert position_categories(location) == expected


def test_location_without_anatomy_falls_back_on_the_type_text():
    assert position_categories("thành sau bên trái", "Hình ảnh dày màng phổi") == ["phổi"]
    assert position_categories("bên trái") == ["khác"]
    assert position_categories("bên phải", "Hình ảnh vài hạch cổ") == ["cổ"]


def test_split_sites_groups_and_head():
    groups, head = split_sites("Trung thất (trước và cạnh phải khí quản, dưới carina)")
    assert head == "trung thất"
    assert groups == [["trước", "cạnh phải khí quản"], ["dưới carina"]]


@pytest.mark.parametrize(
    "uptake,suv,expected",
    [
        ("Cao", 12.0, "có tăng"),
        ("Không đều", 3.0, "có tăng"),  # uneven uptake is uptake
        ("Không tăng (ổn định so với PET/CT tháng 9/2023)", 1.2, "không tăng"),
        ("không tăng chuyển hóa FDG", None, "không tăng"),
        ("Không có", 4.78, "có tăng"),  # no wording: a measured SUVmax means uptake
        ("Không có", None, "không tăng"),
        ("nhẹ", None, "có tăng"),
    ],
)
def test_fdg_rules(uptake, suv, expected):
    assert fdg_category_text(uptake, suv) == expected
    assert fdg_category(Lesion(uptake=uptake, suv_max=suv)) == expected


def test_lesion_units_repeat_type_and_fdg_per_site():
    lesion = Lesion(type="Hình ảnh nốt mờ", location="thùy trên phổi phải và thùy dưới phổi trái", uptake="Cao")
    assert lesion_categories(lesion) == [("nốt mờ", "phổi", "có tăng")] * 2


def test_all_expert_lesions_map_and_only_known_ones_are_other(real_data):
    counts: collections.Counter = collections.Counter()
    others = set()
    files = sorted((real_data / "expert").glob("*.json"))
    assert len(files) == 80
    for path in files:
        for lesion in load_expert_lesions(path):
            units = lesion_categories(lesion)
            assert units, lesion
            counts["lesions"] += 1
            counts["units"] += len(units)
            for kind, position, _ in units:
                if kind == "khác" or position == "khác":
                    others.add((lesion.type.strip(), lesion.location.strip()))
    assert counts["lesions"] == 304
    assert counts["units"] > counts["lesions"]  # multi-site locations expand
    # bone, breast and bone-lysis lesions are the only "khác" in the expert set
    assert all(("xương" in t.lower() or "xương" in loc.lower() or "vú" in loc or "sườn" in loc) for t, loc in others), others
